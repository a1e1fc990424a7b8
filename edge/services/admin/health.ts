import { desc, sql } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { workerHeartbeats } from "../../../db/schema";
import type { Store } from "../../adapters/store";

/** A worker that has not written a heartbeat for this long is reported down. */
export const WORKER_STALE_MS = 30_000;
const CHECK_TIMEOUT_MS = 2_000;

const CheckSchema = v.object({ state: v.picklist(["ok", "down"]), latencyMs: v.number(), detail: v.optional(v.string()) });
type Check = v.InferOutput<typeof CheckSchema>;

/** `GET /v1/health`: the overall state and each dependency's. */
export const HealthSchema = v.object({ status: v.picklist(["ok", "degraded", "down"]), checks: v.record(v.string(), CheckSchema) });
export type Health = v.InferOutput<typeof HealthSchema>;

async function check(run: () => Promise<string | undefined>): Promise<Check> {
  const started = Date.now();
  try {
    const detail = await Promise.race([run(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS))]);
    return { state: "ok", latencyMs: Date.now() - started, ...(detail ? { detail } : {}) };
  } catch (error) {
    return { state: "down", latencyMs: Date.now() - started, detail: error instanceof Error ? error.message : String(error) };
  }
}

/** The newest heartbeat of a GPU worker, and what it can do, so an operator sees at once whether semantic features are on. */
async function workerState(db: Database): Promise<string> {
  const [row] = await db
    .select({ workerId: workerHeartbeats.workerId, lastSeenAt: workerHeartbeats.lastSeenAt, capabilities: workerHeartbeats.capabilities })
    .from(workerHeartbeats)
    .orderBy(desc(workerHeartbeats.lastSeenAt))
    .limit(1);
  if (!row) throw new Error("no GPU worker has ever reported");
  const age = Date.now() - row.lastSeenAt.getTime();
  if (age > WORKER_STALE_MS) throw new Error(`last heartbeat from ${row.workerId} ${Math.round(age / 1000)} s ago`);
  // Without CLIP, the worker's short reason (its log and heartbeat row hold the details).
  const can = (row.capabilities ?? {}) as { clip?: string | null; clipUnavailable?: { why?: unknown } | null; nsfw?: boolean; searchModel?: unknown; reembed?: unknown };
  const why = typeof can.clipUnavailable?.why === "string" ? `: ${can.clipUnavailable.why}` : "";
  const ml = `${can.clip ? `CLIP ${can.clip}` : `no CLIP model (semantic features off${why})`}, ${can.nsfw ? "NSFW classifier" : "no NSFW classifier (new images wait for review)"}`;
  return `${row.workerId}, heartbeat ${Math.round(age / 1000)} s ago; ${ml}${switchNote(can)}`;
}

type SwitchCount = { done: number; total: number; failed: number };

/** The re-embedding progress a heartbeat carries (gpu-worker/reembed.ts ReembedProgress), if it is one. */
function switchCountOf(value: unknown): SwitchCount | null {
  const p = value as { done?: unknown; total?: unknown; failed?: unknown } | null | undefined;
  if (typeof p?.done !== "number" || typeof p.total !== "number") return null;
  return { done: p.done, total: p.total, failed: typeof p.failed === "number" ? p.failed : 0 };
}

/** "3 of 12 images re-embedded (25%), 1 unreadable": for health and the console alike. */
export function describeSwitchCount(p: SwitchCount): string {
  const share = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
  return `${p.done.toLocaleString("en")} of ${p.total.toLocaleString("en")} images re-embedded (${share}%)${p.failed > 0 ? `, ${p.failed} unreadable` : ""}`;
}

/** A CLIP model switch under way (gpu-worker/reembed.ts), as the worker's heartbeat reports it. */
export function switchNote(can: { clip?: string | null; searchModel?: unknown; reembed?: unknown }): string {
  if (typeof can.searchModel !== "string" || !can.clip || can.searchModel === can.clip) return "";
  const count = switchCountOf(can.reembed);
  return `; search reads ${can.searchModel}, switching to ${can.clip}${count ? `: ${describeSwitchCount(count)}` : ""}`;
}

/**
 * Checks every dependency at once, each within 2 s: the database, R2 (both buckets), the jobs queue
 * binding, the GPU worker's heartbeat and the cache. Down when the database is (nothing can be
 * served), degraded when anything else is.
 */
export async function checkHealth(deps: { db: Database; env: Pick<Env, "ORIGINALS" | "DERIVATIVES" | "JOBS">; store: Pick<Store, "ping" | "kind"> }): Promise<Health> {
  const { db, env, store } = deps;
  const [database, originals, derivatives, queue, worker, cache] = await Promise.all([
    check(async () => {
      await db.execute(sql`select 1`);
      return undefined;
    }),
    check(async () => {
      await env.ORIGINALS.head("health/probe");
      return undefined;
    }),
    check(async () => {
      await env.DERIVATIVES.head("health/probe");
      return undefined;
    }),
    check(async () => {
      if (typeof env.JOBS?.send !== "function") throw new Error("JOBS queue binding missing");
      return "producer bound";
    }),
    check(() => workerState(db)),
    check(async () => {
      await store.ping();
      return store.kind === "memory" ? "in-isolate local store (no Upstash credentials)" : "upstash";
    }),
  ]);
  const r2 = originals.state === "down" ? originals : derivatives;
  const checks = { database, r2, queue, worker, cache };
  if (database.state === "down") return { status: "down", checks };
  return { status: Object.values(checks).every((x) => x.state === "ok") ? "ok" : "degraded", checks };
}

export type SearchModelStatus = {
  active: { model: string; dimensions: number } | null;
  building: { model: string; dimensions: number } | null;
  /** The re-embedding's progress, from the newest heartbeat that reports one. */
  progress: SwitchCount | null;
};

/** The CLIP model search reads and a switch under way, for the console (db/embedding-models.ts). */
export async function searchModelStatus(db: Database): Promise<SearchModelStatus> {
  const models = await db.execute<{ model: string; dimensions: number; state: string }>(
    sql`select model, dimensions, state from embedding_models where state in ('active', 'building') order by created_at desc`,
  );
  const pick = (state: string) => {
    const row = models.rows.find((r) => r.state === state);
    return row ? { model: row.model, dimensions: Number(row.dimensions) } : null;
  };
  const building = pick("building");
  let progress: SearchModelStatus["progress"] = null;
  if (building) {
    const beats = await db.execute<{ reembed: unknown }>(
      sql`select capabilities->'reembed' as reembed from worker_heartbeats where capabilities->'reembed'->>'model' = ${building.model} order by last_seen_at desc limit 1`,
    );
    progress = switchCountOf(beats.rows[0]?.reembed);
  }
  return { active: pick("active"), building, progress };
}
