import { DurableObject } from "cloudflare:workers";
import { type Context, Hono } from "hono";
import * as v from "valibot";
import { QUEUE_MAX_DELIVERIES } from "../../common/jobs";
import { log } from "../../common/log";
import type { AppEnv } from "../env";
import { timingSafeEqual } from "../lib/crypto";

/**
 * Local stand-in for Cloudflare Queues' HTTP pull consumer (wrangler's local runtime has none,
 * workers-sdk issue 9665). Locally the edge is the push consumer of the jobs queue and hands every
 * message to a SQLite Durable Object, one per queue, which leases, acknowledges, retries and
 * dead-letters them as the real pull consumer does; `localQueues` serves its pull/ack API under
 * /_local/queues/client/v4, shaped like https://api.cloudflare.com/client/v4, so the GPU worker's
 * pull client (gpu-worker/queue-client.ts) runs unchanged against it.
 */

/** The one queue with a pull consumer: its name doubles as its queue id locally. */
export const LOCAL_PULL_QUEUE = "edgestock-jobs";

/**
 * Deliveries before a message that is retried, or whose lease runs out, goes to the dead-letter
 * queue: the job table's (common/jobs.ts), as production's pull consumer is set up with
 * `--message-retries` one less.
 */
export const MAX_DELIVERIES = QUEUE_MAX_DELIVERIES;

/** Pull defaults and limits of the real API (developers.cloudflare.com/queues/configuration/pull-consumers). */
export const PULL_LIMITS = {
  defaultBatchSize: 5,
  maxBatchSize: 100,
  defaultVisibilityTimeoutMs: 30_000,
  maxVisibilityTimeoutMs: 12 * 60 * 60 * 1000,
  /** Longest retry delay Queues accepts (12 hours). */
  maxRetryDelaySeconds: 43_200,
} as const;

/** Bindings that exist only in wrangler.local.toml (edge/worker-configuration.d.ts is generated from wrangler.toml). */
type LocalEnv = Env & { LOCAL_QUEUES: DurableObjectNamespace<LocalPullQueue>; LOCAL_JOBS_DLQ: Queue };

function isLocalEnv(env: Env): env is LocalEnv {
  const local = env as Partial<LocalEnv>;
  return local.LOCAL_QUEUES !== undefined && local.LOCAL_JOBS_DLQ !== undefined;
}

/** The content types a pull consumer can read (v8 is Workers-only). */
export type PullContentType = "json" | "text" | "bytes";

/** A message as the stand-in stores it: JSON text, plain text, or base64 bytes. */
export type LocalMessage = { id: string; body: string; contentType: PullContentType; timestampMs: number };

/** One message of a pull response, in the API's wire shape. */
export type PulledWireMessage = {
  id: string;
  body: string;
  attempts: number;
  lease_id: string;
  timestamp_ms: number;
  metadata: { "CF-Content-Type": PullContentType; "CF-sourceMessageSource": string };
};

export type PullResult = { message_backlog_count: number; messages: PulledWireMessage[] };
export type AckResult = { ackCount: number; retryCount: number; warnings: Record<string, string> };
export type RetryRequest = { leaseId: string; delaySeconds: number };

type Row = {
  id: string;
  body: string;
  content_type: string;
  attempts: number;
  visible_at: number;
  lease_id: string | null;
  lease_expires_at: number | null;
  timestamp_ms: number;
};

const encoder = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function contentTypeOf(row: Row): PullContentType {
  return row.content_type === "text" || row.content_type === "bytes" ? row.content_type : "json";
}

/**
 * The body as the pull API sends it. Cloudflare's docs: json and bytes bodies are base64-encoded
 * (RFC 4648), text bodies are plain UTF-8.
 */
function wireBody(row: Row): string {
  const type = contentTypeOf(row);
  if (type === "text" || type === "bytes") return row.body;
  return toBase64(encoder.encode(row.body));
}

/** The body as it was sent to the queue, for re-sending it to the dead-letter queue. */
function originalBody(row: Row): MessageSendRequest {
  const contentType = contentTypeOf(row);
  if (contentType === "json") return { body: JSON.parse(row.body), contentType };
  if (contentType === "bytes") return { body: fromBase64(row.body), contentType };
  return { body: row.body, contentType };
}

/** A lease id names its message, so an acknowledgement after the lease ran out still finds it (as in Queues). */
function leaseMessageId(leaseId: string): string | null {
  const match = /^([0-9A-Za-z_-]{1,128})\.[0-9a-f]{32}$/.exec(leaseId);
  return match?.[1] ?? null;
}

/**
 * One queue's pull-consumer state in SQLite. Messages are leased on pull (invisible until acknowledged,
 * retried, or the visibility timeout runs out), counted per delivery, and moved to the dead-letter queue
 * after {@link MAX_DELIVERIES} deliveries: on the retry of the last one, or when its lease runs out
 * (found on the next pull or ack, or by the alarm set for the earliest lease expiry).
 */
export class LocalPullQueue extends DurableObject<LocalEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: LocalEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        content_type TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        visible_at INTEGER NOT NULL,
        lease_id TEXT,
        lease_expires_at INTEGER,
        timestamp_ms INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_at, seq) WHERE lease_id IS NULL;
      CREATE INDEX IF NOT EXISTS messages_leased ON messages (lease_expires_at) WHERE lease_id IS NOT NULL;
    `);
  }

  /** Stores messages handed over by the push consumer; a message id seen before is ignored (redelivered batch). */
  async enqueue(messages: LocalMessage[]): Promise<void> {
    const now = Date.now();
    for (const m of messages) {
      this.sql.exec("INSERT OR IGNORE INTO messages (id, body, content_type, visible_at, timestamp_ms) VALUES (?, ?, ?, ?, ?)", m.id, m.body, m.contentType, now, m.timestampMs);
    }
  }

  /** Leases up to `batchSize` visible messages for `visibilityTimeoutMs`, oldest first. */
  async pull(batchSize: number, visibilityTimeoutMs: number): Promise<PullResult> {
    await this.sweep().catch(deferred);
    const now = Date.now();
    const rows = this.sql.exec<Row>("SELECT * FROM messages WHERE lease_id IS NULL AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?", now, batchSize).toArray();
    const messages: PulledWireMessage[] = [];
    for (const row of rows) {
      const leaseId = `${row.id}.${randomHex(16)}`;
      const attempts = row.attempts + 1;
      this.sql.exec("UPDATE messages SET attempts = ?, lease_id = ?, lease_expires_at = ? WHERE id = ?", attempts, leaseId, now + visibilityTimeoutMs, row.id);
      messages.push({
        id: row.id,
        body: wireBody(row),
        attempts,
        lease_id: leaseId,
        timestamp_ms: row.timestamp_ms,
        metadata: { "CF-Content-Type": contentTypeOf(row), "CF-sourceMessageSource": "worker" },
      });
    }
    const backlog = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM messages").one().n;
    await this.scheduleAlarm();
    return { message_backlog_count: backlog, messages };
  }

  /**
   * Acknowledges (deletes) and retries leased messages. As in Queues, an acknowledgement is accepted
   * even after its lease ran out; a retry needs the current, unexpired lease. Lease ids that match
   * nothing are reported in `warnings`, keyed by lease id.
   */
  async ack(acks: string[], retries: RetryRequest[]): Promise<AckResult> {
    const now = Date.now();
    const warnings: Record<string, string> = {};
    let ackCount = 0;
    let retryCount = 0;
    for (const leaseId of acks) {
      const id = leaseMessageId(leaseId);
      const deleted = id === null ? 0 : this.sql.exec("DELETE FROM messages WHERE id = ?", id).rowsWritten;
      if (deleted > 0) ackCount += 1;
      else warnings[leaseId] = "no message holds this lease: it was already acknowledged or dead-lettered, or the lease id is unknown";
    }
    const dead: Row[] = [];
    for (const { leaseId, delaySeconds } of retries) {
      const row = this.sql.exec<Row>("SELECT * FROM messages WHERE lease_id = ?", leaseId).toArray()[0];
      if (!row || (row.lease_expires_at ?? 0) <= now) {
        warnings[leaseId] = "the lease is unknown or has expired: the message was not retried";
        continue;
      }
      retryCount += 1;
      if (row.attempts >= MAX_DELIVERIES) dead.push(row);
      else this.sql.exec("UPDATE messages SET lease_id = NULL, lease_expires_at = NULL, visible_at = ? WHERE id = ?", now + delaySeconds * 1000, row.id);
    }
    await this.deadLetter(dead).catch(deferred);
    await this.sweep().catch(deferred);
    await this.scheduleAlarm();
    return { ackCount, retryCount, warnings };
  }

  /**
   * Moves messages whose last lease just ran out to the dead-letter queue without waiting for a pull.
   * A failed send throws, and the runtime retries the alarm with backoff.
   */
  override async alarm(): Promise<void> {
    await this.sweep();
    await this.scheduleAlarm();
  }

  /** Leases that ran out: the message is visible again, or dead after its last allowed delivery. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    const dead = this.sql.exec<Row>("SELECT * FROM messages WHERE lease_id IS NOT NULL AND lease_expires_at <= ? AND attempts >= ?", now, MAX_DELIVERIES).toArray();
    this.sql.exec(
      "UPDATE messages SET lease_id = NULL, visible_at = lease_expires_at, lease_expires_at = NULL WHERE lease_id IS NOT NULL AND lease_expires_at <= ? AND attempts < ?",
      now,
      MAX_DELIVERIES,
    );
    await this.deadLetter(dead);
  }

  /**
   * Sends the original bodies to the dead-letter queue and deletes the messages. They are deleted
   * before the send, so that a pull or ack running meanwhile cannot send them twice, and put back,
   * due at once, if it fails (the next sweep tries again).
   */
  private async deadLetter(rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    for (const row of rows) this.sql.exec("DELETE FROM messages WHERE id = ?", row.id);
    try {
      for (let i = 0; i < rows.length; i += 100) {
        await this.env.LOCAL_JOBS_DLQ.sendBatch(rows.slice(i, i + 100).map(originalBody));
      }
    } catch (error) {
      for (const row of rows) {
        this.sql.exec(
          "INSERT OR IGNORE INTO messages (id, body, content_type, attempts, visible_at, lease_id, lease_expires_at, timestamp_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          row.id,
          row.body,
          row.content_type,
          row.attempts,
          row.visible_at,
          row.lease_id,
          Math.min(row.lease_expires_at ?? 0, Date.now()),
          row.timestamp_ms,
        );
      }
      throw error;
    }
    log.warn("local queue: dead-lettered", { count: rows.length, ids: rows.map((r) => r.id) });
  }

  private async scheduleAlarm(): Promise<void> {
    const next = this.sql.exec<{ at: number | null }>("SELECT min(lease_expires_at) AS at FROM messages WHERE lease_id IS NOT NULL").one().at;
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }
}

/** A dead-letter send that failed during a pull or ack: that call still answers; the alarm tries again. */
function deferred(error: unknown): void {
  log.error("local queue: dead-letter send failed, will retry", { error: String(error) });
}

function storedBody(body: unknown): Pick<LocalMessage, "body" | "contentType"> {
  if (typeof body === "string") return { body, contentType: "text" };
  if (body instanceof ArrayBuffer) return { body: toBase64(new Uint8Array(body)), contentType: "bytes" };
  if (ArrayBuffer.isView(body)) return { body: toBase64(new Uint8Array(body.buffer, body.byteOffset, body.byteLength)), contentType: "bytes" };
  return { body: JSON.stringify(body) ?? "null", contentType: "json" };
}

function localQueue(env: LocalEnv, queue: string) {
  return env.LOCAL_QUEUES.get(env.LOCAL_QUEUES.idFromName(queue));
}

/**
 * Takes a batch of the jobs queue (consumed by the edge only in local development) into the pull
 * stand-in, then acknowledges it. Objects become json messages, strings text, binary data bytes.
 */
export async function acceptLocalJobs(batch: MessageBatch, env: Env): Promise<void> {
  if (!isLocalEnv(env)) {
    throw new Error(`${batch.queue} reached the edge without the LOCAL_QUEUES binding: it is consumed here only with wrangler.local.toml`);
  }
  await localQueue(env, batch.queue).enqueue(batch.messages.map((m) => ({ id: m.id, timestampMs: m.timestamp.getTime(), ...storedBody(m.body) })));
  batch.ackAll();
}

type Envelope<T> = { success: boolean; errors: { code: number; message: string }[]; messages: string[]; result: T | null };
type ApiStatus = 400 | 401 | 404 | 503;

/** An error in the Cloudflare API's envelope (codes: Queues "Error codes" reference; 10000 is the API's authentication error). */
function apiError(c: Context<AppEnv>, status: ApiStatus, code: number, message: string) {
  return c.json<Envelope<null>>({ success: false, errors: [{ code, message }], messages: [], result: null }, status);
}

/** Reads a JSON body (empty means `{}`, as the API allows) with a valibot schema; a 400 envelope otherwise. */
async function parseBody<S extends v.GenericSchema>(c: Context<AppEnv>, schema: S): Promise<{ ok: true; value: v.InferOutput<S> } | { ok: false; response: Response }> {
  const text = await c.req.text();
  let json: unknown;
  try {
    json = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    return { ok: false, response: apiError(c, 400, 10208, "request body is not valid JSON") };
  }
  const result = v.safeParse(schema, json);
  if (!result.success) {
    const detail = result.issues.map((issue) => `${v.getDotPath(issue) ?? "body"}: ${issue.message}`).join("; ");
    return { ok: false, response: apiError(c, 400, 10207, `request body does not match the expected schema: ${detail}`) };
  }
  return { ok: true, value: result.output };
}

const PullBody = v.object({
  batch_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(PULL_LIMITS.maxBatchSize)), PULL_LIMITS.defaultBatchSize),
  visibility_timeout_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(PULL_LIMITS.maxVisibilityTimeoutMs)), PULL_LIMITS.defaultVisibilityTimeoutMs),
});

const LeaseId = v.pipe(v.string(), v.nonEmpty());
const AckBody = v.object({
  acks: v.optional(v.array(v.object({ lease_id: LeaseId })), []),
  retries: v.optional(
    v.array(
      v.object({
        lease_id: LeaseId,
        delay_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(PULL_LIMITS.maxRetryDelaySeconds)), 0),
      }),
    ),
    [],
  ),
});

/** The pull/ack API of the stand-in, mounted at /_local/queues (404 in production, see dev/routes.ts). */
export const localQueues = new Hono<AppEnv>();

const QUEUE_PATH = "/client/v4/accounts/:accountId/queues/:queueId/messages";

localQueues.use(`${QUEUE_PATH}/*`, async (c, next) => {
  const expected = c.var.config.LOCAL_QUEUES_TOKEN;
  const presented = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim() ?? "";
  if (!expected || !timingSafeEqual(encoder.encode(presented), encoder.encode(expected))) {
    return apiError(c, 401, 10000, "Authentication error");
  }
  if (c.req.param("queueId") !== LOCAL_PULL_QUEUE) return apiError(c, 404, 10104, "Queue does not exist");
  await next();
});

/** The stand-in's Durable Object, or a 503 envelope when the Worker runs without wrangler.local.toml. */
function pullQueue(c: Context<AppEnv>) {
  if (!isLocalEnv(c.env)) return { ok: false as const, response: apiError(c, 503, 15000, "the local queue stand-in needs the bindings of wrangler.local.toml") };
  return { ok: true as const, stub: localQueue(c.env, LOCAL_PULL_QUEUE) };
}

localQueues.post(`${QUEUE_PATH}/pull`, async (c) => {
  const body = await parseBody(c, PullBody);
  if (!body.ok) return body.response;
  const queue = pullQueue(c);
  if (!queue.ok) return queue.response;
  const result = await queue.stub.pull(body.value.batch_size, body.value.visibility_timeout_ms);
  return c.json<Envelope<PullResult>>({ success: true, errors: [], messages: [], result });
});

localQueues.post(`${QUEUE_PATH}/ack`, async (c) => {
  const body = await parseBody(c, AckBody);
  if (!body.ok) return body.response;
  const queue = pullQueue(c);
  if (!queue.ok) return queue.response;
  const result = await queue.stub.ack(
    body.value.acks.map((a) => a.lease_id),
    body.value.retries.map((r) => ({ leaseId: r.lease_id, delaySeconds: r.delay_seconds })),
  );
  return c.json<Envelope<AckResult>>({ success: true, errors: [], messages: [], result });
});
