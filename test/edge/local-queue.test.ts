import { createExecutionContext, env, runInDurableObject, SELF, waitOnExecutionContext } from "cloudflare:test";
import { eq, inArray } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type JobMessage, jobMessage } from "../../common/jobs";
import { images, jobs, users } from "../../db/schema";
import { LOCAL_PULL_QUEUE, type LocalPullQueue, MAX_DELIVERIES } from "../../edge/dev/local-queue";
import worker from "../../edge/index";
import { enqueueReprocess, SEND_BATCH_LIMIT } from "../../edge/services/admin/reprocess";
import { createQueueClient, type PulledMessage } from "../../gpu-worker/queue-client";
import { BASE, testDb, testSecret } from "./support";

/**
 * The local pull-consumer stand-in end to end: messages sent with env.JOBS reach the edge's push
 * consumer, land in the Durable Object, and are pulled, leased, acknowledged, retried and
 * dead-lettered through the HTTP API by the GPU worker's own client. Each test file runs in its own
 * workerd, so nothing else pulls this queue; tests tell their messages apart by image id.
 */

const API = `${BASE}/_local/queues/client/v4`;
const QUEUE_PATH = `${API}/accounts/local/queues/${LOCAL_PULL_QUEUE}/messages`;
const token = testSecret("LOCAL_QUEUES_TOKEN");
const localEnv = env as Env & { LOCAL_QUEUES: DurableObjectNamespace<LocalPullQueue> };

const queue = createQueueClient({
  apiUrl: API,
  accountId: "local",
  queueId: LOCAL_PULL_QUEUE,
  token,
  fetch: (input, init) => SELF.fetch(new Request(input, init)),
  baseDelayMs: 50,
});

const { db, pool } = testDb();
afterAll(() => pool.end());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Sends one image.process job per image id through the edge's producer binding. */
async function sendJobs(imageIds: string[]): Promise<JobMessage[]> {
  const messages = imageIds.map((imageId) => jobMessage("image.process", { imageId }));
  for (const message of messages) await env.JOBS.send(message, { contentType: "json" });
  return messages;
}

/** Rows the stand-in holds whose body mentions one of `markers` (read inside the Durable Object). */
function storedMatching(markers: string[]): Promise<{ id: string; attempts: number; leased: boolean }[]> {
  return runInDurableObject(queueObject(), (_instance, state) => {
    const rows = state.storage.sql.exec<{ id: string; body: string; attempts: number; lease_id: string | null }>("SELECT id, body, attempts, lease_id FROM messages").toArray();
    return rows.filter((r) => markers.some((m) => r.body.includes(m))).map((r) => ({ id: r.id, attempts: r.attempts, leased: r.lease_id !== null }));
  });
}

function queueObject() {
  return localEnv.LOCAL_QUEUES.get(localEnv.LOCAL_QUEUES.idFromName(LOCAL_PULL_QUEUE));
}

/** When each unleased message mentioning one of `markers` becomes visible (ms since the epoch). */
function dueTimes(markers: string[]): Promise<number[]> {
  return runInDurableObject(queueObject(), (_instance, state) => {
    const rows = state.storage.sql.exec<{ body: string; visible_at: number }>("SELECT body, visible_at FROM messages WHERE lease_id IS NULL").toArray();
    return rows.filter((r) => markers.some((m) => r.body.includes(m))).map((r) => r.visible_at);
  });
}

/** Steps the stand-in's clock for these messages: whatever delay they wait out is over now. */
function makeDue(markers: string[]): Promise<void> {
  return runInDurableObject(queueObject(), (_instance, state) => {
    for (const marker of markers) state.storage.sql.exec("UPDATE messages SET visible_at = 0 WHERE lease_id IS NULL AND instr(body, ?) > 0", marker);
  });
}

/** Waits until the push consumer has handed every message mentioning `markers` to the stand-in. */
function arrived(markers: string[]) {
  return waitFor(`${markers.length} message(s) to reach the stand-in`, async () => {
    const rows = await storedMatching(markers);
    return rows.length === markers.length ? rows : undefined;
  });
}

const imageIdOf = (m: PulledMessage) => (m.body as JobMessage).payload.imageId;

/** Pulls once and returns this test's messages; anything else (a leftover of an earlier test) is acknowledged away. */
async function pullMine(imageIds: string[], visibilityTimeoutMs = 30_000): Promise<PulledMessage[]> {
  const pulled = await queue.pull({ batchSize: 100, visibilityTimeoutMs });
  const mine = pulled.filter((m) => m.contentType === "json" && imageIds.includes(imageIdOf(m)));
  const others = pulled.filter((m) => !mine.includes(m)).map((m) => m.leaseId);
  await queue.ack({ acks: others, retries: [] });
  return mine;
}

function pullMineEventually(imageIds: string[], count: number, visibilityTimeoutMs = 30_000, timeoutMs = 10_000) {
  const found: PulledMessage[] = [];
  return waitFor(
    `${count} message(s) to be pullable`,
    async () => {
      found.push(...(await pullMine(imageIds, visibilityTimeoutMs)));
      return found.length >= count ? found : undefined;
    },
    timeoutMs,
  );
}

function raw(path: string, init: { body?: string; token?: string | null } = {}) {
  const headers = new Headers({ "content-type": "application/json" });
  if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? token}`);
  return SELF.fetch(new Request(path, { method: "POST", headers, body: init.body ?? "{}" }));
}

type ErrorEnvelope = { success: false; errors: { code: number; message: string }[]; result: null };

async function expectEnvelopeError(res: Response, status: number, code: number): Promise<ErrorEnvelope> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as ErrorEnvelope;
  expect(body.success).toBe(false);
  expect(body.errors[0]?.code).toBe(code);
  return body;
}

describe("local Queues pull stand-in", () => {
  it("delivers messages sent with env.JOBS to the pull API, decoded, with a lease that hides them from a second pull", async () => {
    const ids = [crypto.randomUUID(), crypto.randomUUID()];
    const sent = await sendJobs(ids);
    await arrived(ids);

    const pulled = await pullMineEventually(ids, 2);
    expect(new Map(pulled.map((m) => [imageIdOf(m), m.body]))).toEqual(new Map(sent.map((s) => [s.payload.imageId, s])));
    for (const m of pulled) {
      expect(m).toMatchObject({ contentType: "json", attempts: 1 });
      expect(m.decodeError).toBeUndefined();
      expect(m.leaseId).toBeTruthy();
    }
    expect(await pullMine(ids)).toEqual([]);
    expect((await storedMatching(ids)).every((r) => r.leased)).toBe(true);

    const result = await queue.ack({ acks: pulled.map((m) => m.leaseId), retries: [] });
    expect(result).toEqual({ ackCount: 2, retryCount: 0, warnings: {} });
  });

  it("sends json bodies base64-encoded on the wire, as Cloudflare documents", async () => {
    const id = crypto.randomUUID();
    const [sent] = await sendJobs([id]);
    await arrived([id]);
    const res = await raw(`${QUEUE_PATH}/pull`, { body: JSON.stringify({ batch_size: 100 }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      success: boolean;
      result: { message_backlog_count: number; messages: { body: string; lease_id: string; metadata: Record<string, string> }[] };
    };
    expect(body.success).toBe(true);
    const mine = body.result.messages.find((m) => atob(m.body).includes(id));
    expect(mine?.metadata["CF-Content-Type"]).toBe("json");
    expect(JSON.parse(atob(mine?.body ?? ""))).toEqual(sent);
    expect(body.result.message_backlog_count).toBeGreaterThanOrEqual(1);
    await queue.ack({ acks: body.result.messages.map((m) => m.lease_id), retries: [] });
  });

  it("applies the documented defaults to an empty pull body: batches of 5", async () => {
    const ids = Array.from({ length: 6 }, () => crypto.randomUUID());
    await sendJobs(ids);
    await arrived(ids);
    const res = await raw(`${QUEUE_PATH}/pull`, { body: "" });
    const first = (await res.json()) as { result: { messages: { lease_id: string }[] } };
    expect(first.result.messages).toHaveLength(5);
    const rest = await pullMine(ids);
    expect(rest).toHaveLength(1);
    await queue.ack({ acks: [...first.result.messages.map((m) => m.lease_id), ...rest.map((m) => m.leaseId)], retries: [] });
    expect(await storedMatching(ids)).toEqual([]);
  });

  it("removes acknowledged messages for good and warns about a lease that holds nothing", async () => {
    const ids = [crypto.randomUUID()];
    await sendJobs(ids);
    await arrived(ids);
    const [message] = await pullMineEventually(ids, 1, 500);
    const leaseId = message?.leaseId ?? "";
    expect(await queue.ack({ acks: [leaseId], retries: [] })).toEqual({ ackCount: 1, retryCount: 0, warnings: {} });

    await sleep(800); // past the lease: an unacknowledged message would be visible again
    expect(await pullMine(ids)).toEqual([]);
    expect(await storedMatching(ids)).toEqual([]);
    const again = await queue.ack({ acks: [leaseId, "not-a-lease"], retries: [] });
    expect(again.ackCount).toBe(0);
    expect(Object.keys(again.warnings).sort()).toEqual([leaseId, "not-a-lease"].sort());
  });

  it("makes a retried message visible again only after its delay, with one more attempt", async () => {
    const ids = [crypto.randomUUID()];
    await sendJobs(ids);
    await arrived(ids);
    const [first] = await pullMineEventually(ids, 1);
    const before = Date.now();
    const retried = await queue.ack({ acks: [], retries: [{ leaseId: first?.leaseId ?? "", delaySeconds: 3600 }] });
    const after = Date.now();
    expect(retried).toEqual({ ackCount: 0, retryCount: 1, warnings: {} });

    // Due an hour after the retry, and not visible before: the clock is stepped, not waited for.
    const [due] = await dueTimes(ids);
    expect(due).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(due).toBeLessThanOrEqual(after + 3_600_000);
    expect(await pullMine(ids)).toEqual([]);
    await makeDue(ids);
    const [second] = await pullMineEventually(ids, 1);
    expect(second).toMatchObject({ id: first?.id, attempts: 2 });
    expect(second?.leaseId).not.toBe(first?.leaseId);
    await queue.ack({ acks: [second?.leaseId ?? ""], retries: [] });
  });

  it("makes a message whose lease expired visible again with one more attempt; the stale lease can no longer retry it", async () => {
    const ids = [crypto.randomUUID()];
    await sendJobs(ids);
    await arrived(ids);
    const [first] = await pullMineEventually(ids, 1, 1000);
    expect(first?.attempts).toBe(1);
    expect(await pullMine(ids)).toEqual([]);

    const [second] = await pullMineEventually(ids, 1);
    expect(second).toMatchObject({ id: first?.id, attempts: 2 });
    const stale = await queue.ack({ acks: [], retries: [{ leaseId: first?.leaseId ?? "", delaySeconds: 0 }] });
    expect(stale.retryCount).toBe(0);
    expect(Object.keys(stale.warnings)).toEqual([first?.leaseId]);
    await queue.ack({ acks: [second?.leaseId ?? ""], retries: [] });
  });

  it(`moves a message to the dead-letter queue after ${MAX_DELIVERIES} deliveries, where the edge records the failure`, async () => {
    // Real images, so that the dead-letter consumer's recordDeadLetter (which writes a jobs row
    // referencing the image) can record them.
    const [contributor] = await db
      .insert(users)
      .values({ email: `dlq-${crypto.randomUUID()}@example.test`, passwordHash: "x", role: "contributor", displayName: "DLQ test" })
      .returning({ id: users.id });
    const rows = await db
      .insert(images)
      .values([
        { contributorId: contributor?.id ?? "", title: "retried to death", status: "processing" },
        { contributorId: contributor?.id ?? "", title: "lease ran out", status: "processing" },
      ])
      .returning({ id: images.id });
    const [retriedId, expiredId] = rows.map((r) => r.id) as [string, string];
    const ids = [retriedId, expiredId];
    await sendJobs(ids);
    await arrived(ids);

    // Deliveries 1 .. MAX-1: retried at once.
    for (let delivery = 1; delivery < MAX_DELIVERIES; delivery++) {
      const pulled = await pullMineEventually(ids, 2);
      expect(pulled.map((m) => m.attempts)).toEqual([delivery, delivery]);
      await queue.ack({ acks: [], retries: pulled.map((m) => ({ leaseId: m.leaseId, delaySeconds: 0 })) });
    }
    // The last delivery: one is retried (straight to the DLQ), the other's lease runs out with no
    // further pull (the Durable Object's alarm dead-letters it).
    const last = await pullMineEventually(ids, 2, 1000);
    expect(last.map((m) => m.attempts)).toEqual([MAX_DELIVERIES, MAX_DELIVERIES]);
    const retried = last.find((m) => imageIdOf(m) === retriedId);
    expect(await queue.ack({ acks: [], retries: [{ leaseId: retried?.leaseId ?? "", delaySeconds: 0 }] })).toMatchObject({ retryCount: 1 });
    expect(await storedMatching([retriedId])).toEqual([]);

    await waitFor("the expired message to leave the stand-in", async () => ((await storedMatching([expiredId])).length === 0 ? true : undefined), 10_000);

    const dead = await waitFor(
      "the dead-letter consumer to record both jobs",
      async () => {
        const found = await db.select().from(jobs).where(inArray(jobs.imageId, ids));
        return found.length === 2 && found.every((j) => j.status === "dead") ? found : undefined;
      },
      20_000,
    );
    expect(dead.map((j) => j.jobType)).toEqual(["image.process", "image.process"]);
    const statuses = await db.select({ status: images.status, reason: images.statusReason }).from(images).where(inArray(images.id, ids));
    expect(statuses.map((s) => s.status)).toEqual(["processing_failed", "processing_failed"]);
    expect(await pullMine(ids)).toEqual([]);
    await db.delete(images).where(inArray(images.id, ids));
    await db.delete(users).where(eq(users.id, contributor?.id ?? ""));
  }, 45_000);

  it("carries text and bytes messages with their content types", async () => {
    const marker = `text-${crypto.randomUUID()}`;
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const b64 = btoa(String.fromCharCode(...bytes));
    await env.JOBS.send(marker, { contentType: "text" });
    // send() takes (detaches) the buffer it is given.
    await env.JOBS.send(bytes.slice(), { contentType: "bytes" });
    await arrived([marker, b64]);

    const found = await waitFor("the text and bytes messages", async () => {
      const pulled = await queue.pull({ batchSize: 100, visibilityTimeoutMs: 30_000 });
      await queue.ack({ acks: pulled.map((m) => m.leaseId), retries: [] });
      const text = pulled.find((m) => m.body === marker);
      const binary = pulled.find((m) => m.body instanceof Uint8Array && btoa(String.fromCharCode(...m.body)) === b64);
      return text && binary ? { text, binary } : undefined;
    });
    expect(found.text.contentType).toBe("text");
    expect(found.binary.contentType).toBe("bytes");
    expect(found.binary.body).toEqual(bytes);
  });

  it("refuses a missing or wrong token with Cloudflare's authentication error", async () => {
    await expectEnvelopeError(await raw(`${QUEUE_PATH}/pull`, { token: null }), 401, 10000);
    await expectEnvelopeError(await raw(`${QUEUE_PATH}/pull`, { token: `${token}x` }), 401, 10000);
    const body = await expectEnvelopeError(await raw(`${QUEUE_PATH}/ack`, { token: "wrong" }), 401, 10000);
    expect(body.errors[0]?.message).toBe("Authentication error");
    const client = createQueueClient({ apiUrl: API, accountId: "local", queueId: LOCAL_PULL_QUEUE, token: "wrong", fetch: (i, init) => SELF.fetch(new Request(i, init)) });
    await expect(client.pull({ batchSize: 1, visibilityTimeoutMs: 1000 })).rejects.toMatchObject({ status: 401 });
  });

  it("answers a body outside the API's limits with a 400 envelope", async () => {
    for (const body of [{ batch_size: 0 }, { batch_size: 101 }, { batch_size: 1.5 }, { visibility_timeout_ms: 12 * 3600 * 1000 + 1 }, { batch_size: "5" }]) {
      await expectEnvelopeError(await raw(`${QUEUE_PATH}/pull`, { body: JSON.stringify(body) }), 400, 10207);
    }
    await expectEnvelopeError(await raw(`${QUEUE_PATH}/pull`, { body: "{not json" }), 400, 10208);
    for (const body of [{ acks: [{}] }, { acks: "x" }, { retries: [{ lease_id: "a", delay_seconds: -1 }] }, { retries: [{ lease_id: "a", delay_seconds: 43_201 }] }]) {
      await expectEnvelopeError(await raw(`${QUEUE_PATH}/ack`, { body: JSON.stringify(body) }), 400, 10207);
    }
  });

  it("carries reprocess jobs for processed images only, sent in batches the Queues limit allows", async () => {
    const [contributor] = await db
      .insert(users)
      .values({ email: `reprocess-${crypto.randomUUID()}@example.test`, passwordHash: "x", role: "contributor", displayName: "Reprocess test" })
      .returning({ id: users.id });
    const contributorId = contributor?.id ?? "";
    // More processed images than one sendBatch takes, and one still being processed.
    const processed = await db
      .insert(images)
      .values(Array.from({ length: SEND_BATCH_LIMIT + 1 }, (_, i) => ({ contributorId, title: `processed ${i}`, status: "approved" as const, stage: "done" as const })))
      .returning({ id: images.id });
    const [pending] = await db
      .insert(images)
      .values({ contributorId, title: "still processing", status: "processing", stage: "processing" as const })
      .returning({ id: images.id });
    const ids = processed.map((r) => r.id);

    const sent = await enqueueReprocess({ db, queue: env.JOBS }, { imageIds: [...ids, pending?.id ?? ""] }, ["embedding", "tags"]);
    expect(sent).toEqual({ enqueued: SEND_BATCH_LIMIT + 1, next: null });
    await arrived(ids);
    const pulled = await pullMineEventually([...ids, pending?.id ?? ""], ids.length);
    expect(pulled.map(imageIdOf).sort()).toEqual([...ids].sort());
    expect(new Set(pulled.map((m) => JSON.stringify({ type: (m.body as JobMessage).type, steps: (m.body as JobMessage<"image.reprocess">).payload.steps })))).toEqual(
      new Set([JSON.stringify({ type: "image.reprocess", steps: ["embedding", "tags"] })]),
    );
    await queue.ack({ acks: pulled.map((m) => m.leaseId), retries: [] });
  });

  it("carries reprocess jobs for every processed image of the catalogue", async () => {
    const [contributor] = await db
      .insert(users)
      .values({ email: `reprocess-all-${crypto.randomUUID()}@example.test`, passwordHash: "x", role: "contributor", displayName: "Reprocess all" })
      .returning({ id: users.id });
    const contributorId = contributor?.id ?? "";
    const processed = await db
      .insert(images)
      .values([1, 2, 3].map((i) => ({ contributorId, title: `catalogue ${i}`, status: "rejected" as const, stage: "done" as const })))
      .returning({ id: images.id });
    const [pending] = await db
      .insert(images)
      .values({ contributorId, title: "not yet", status: "processing", stage: "queued" as const })
      .returning({ id: images.id });
    const ids = processed.map((r) => r.id);

    let next: string | null = null;
    do ({ next } = await enqueueReprocess({ db, queue: env.JOBS }, { all: true, after: next }, ["colours"]));
    while (next !== null);
    await arrived(ids);
    expect(await storedMatching([pending?.id ?? ""])).toEqual([]);
    const pulled = await pullMineEventually(ids, ids.length);
    expect(pulled.map((m) => (m.body as JobMessage<"image.reprocess">).payload.steps)).toEqual(ids.map(() => ["colours"]));
    await queue.ack({ acks: pulled.map((m) => m.leaseId), retries: [] });
  });

  it("knows only the jobs queue", async () => {
    const body = await expectEnvelopeError(await raw(`${API}/accounts/local/queues/edgestock-uploads/messages/pull`), 404, 10104);
    expect(body.errors[0]?.message).toBe("Queue does not exist");
  });

  it("does not exist in production", async () => {
    // Production configuration refuses LOCAL_QUEUES_TOKEN and DB_LOCAL_PROXY, so they are unset here.
    const production: Env = { ...env, ENVIRONMENT: "production", LOCAL_QUEUES_TOKEN: "", DB_LOCAL_PROXY: "", STRIPE_API_BASE: "" };
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`${QUEUE_PATH}/pull`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}" }),
      production,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});
