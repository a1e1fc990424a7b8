import { desc, sql } from "drizzle-orm";
import { workerHeartbeats } from "../../db/schema";
import { Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { spec } from "../lib/route";
import { openStore } from "../adapters/store";

/** A worker that has not written a heartbeat for this long is reported down. */
export const WORKER_STALE_MS = 30_000;
const CHECK_TIMEOUT_MS = 2_000;

type Check = { state: "ok" | "down"; latencyMs: number; detail?: string };

async function check(run: () => Promise<string | undefined>): Promise<Check> {
  const started = Date.now();
  try {
    const detail = await Promise.race([
      run(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)),
    ]);
    return { state: "ok", latencyMs: Date.now() - started, ...(detail ? { detail } : {}) };
  } catch (error) {
    return { state: "down", latencyMs: Date.now() - started, detail: error instanceof Error ? error.message : String(error) };
  }
}

const CheckSchema = v.object({ state: v.picklist(["ok", "down"]), latencyMs: v.number(), detail: v.optional(v.string()) });

export const healthRoutes = new Hono<AppEnv>().get(
  "/health",
  spec({
    summary: "Each dependency's state: database, R2, queue, GPU worker, cache",
    tags: ["ops"],
    access: "public",
    responses: {
      200: {
        description: "Serving (status ok, or degraded when the worker or cache is down)",
        schema: v.object({ status: v.picklist(["ok", "degraded", "down"]), checks: v.record(v.string(), CheckSchema) }),
      },
      503: { description: "The database is down: nothing can be served" },
    },
  }),
  async (c) => {
    const [database, originals, derivatives, queue, worker, cache] = await Promise.all([
      check(async () => {
        await c.var.db.execute(sql`select 1`);
        return undefined;
      }),
      check(async () => {
        await c.env.ORIGINALS.head("health/probe");
        return undefined;
      }),
      check(async () => {
        await c.env.DERIVATIVES.head("health/probe");
        return undefined;
      }),
      check(async () => {
        if (typeof c.env.JOBS?.send !== "function") throw new Error("JOBS queue binding missing");
        return "producer bound";
      }),
      check(async () => {
        const [row] = await c.var.db
          .select({ workerId: workerHeartbeats.workerId, lastSeenAt: workerHeartbeats.lastSeenAt, capabilities: workerHeartbeats.capabilities })
          .from(workerHeartbeats)
          .orderBy(desc(workerHeartbeats.lastSeenAt))
          .limit(1);
        if (!row) throw new Error("no GPU worker has ever reported");
        const age = Date.now() - row.lastSeenAt.getTime();
        if (age > WORKER_STALE_MS) throw new Error(`last heartbeat from ${row.workerId} ${Math.round(age / 1000)} s ago`);
        // What the worker can do, so an operator sees at once whether semantic features are on.
        // Without CLIP, the worker's short reason (its log and heartbeat row hold the details).
        const can = (row.capabilities ?? {}) as { clip?: string | null; clipUnavailable?: { why?: unknown } | null; nsfw?: boolean };
        const why = typeof can.clipUnavailable?.why === "string" ? `: ${can.clipUnavailable.why}` : "";
        const ml = `${can.clip ? `CLIP ${can.clip}` : `no CLIP model (semantic features off${why})`}, ${can.nsfw ? "NSFW classifier" : "no NSFW classifier (new images wait for review)"}`;
        return `${row.workerId}, heartbeat ${Math.round(age / 1000)} s ago; ${ml}`;
      }),
      check(async () => {
        const store = openStore(c.var.config);
        await store.ping();
        return store.kind === "memory" ? "in-isolate local store (no Upstash credentials)" : "upstash";
      }),
    ]);
    const r2 = originals.state === "down" ? originals : derivatives;
    const checks = { database, r2, queue, worker, cache };
    const headers = { "cache-control": "no-store" };
    if (database.state === "down") return c.json({ status: "down", checks }, 503, headers);
    const healthy = Object.values(checks).every((x) => x.state === "ok");
    return c.json({ status: healthy ? "ok" : "degraded", checks }, 200, headers);
  },
);
