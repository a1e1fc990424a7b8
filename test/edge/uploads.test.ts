import { createMessageBatch, env, SELF } from "cloudflare:test";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MULTIPART_PART_BYTES } from "../../common/images";
import { parseJobMessage } from "../../common/jobs";
import { images, imageTags, jobs } from "../../db/schema";
import { LOCAL_PULL_QUEUE } from "../../edge/dev/local-queue";
import worker from "../../edge/index";
import { resendStaleJobs, STALE_JOB_MS } from "../../edge/services/admin/maintenance";
import { createQueueClient } from "../../gpu-worker/queue-client";
import { api, BASE, signUp, testDb, testSecret } from "./support";

/**
 * Uploads at the edge, inside workerd with local R2 and the local queue: the presigned URL is
 * verified by the S3 stand-in (the production signing code), completion enqueues exactly one job
 * (seen by pulling the queue as the worker does), and every refusal leaves nothing behind.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

const queue = createQueueClient({
  apiUrl: `${BASE}/_local/queues/client/v4`,
  accountId: "local",
  queueId: LOCAL_PULL_QUEUE,
  token: testSecret("LOCAL_QUEUES_TOKEN"),
  fetch: (input, init) => SELF.fetch(new Request(input, init)),
  baseDelayMs: 50,
});

/** Pulls (and acknowledges) the queue for a while; returns the image ids of the jobs seen. */
async function drainJobs(waitMs = 1500): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const messages = await queue.pull({ batchSize: 100, visibilityTimeoutMs: 60_000 });
    for (const m of messages) seen.push(parseJobMessage(m.body).payload.imageId);
    if (messages.length) await queue.ack({ acks: messages.map((m) => m.leaseId), retries: [] });
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

type Ticket = {
  imageId: string;
  key: string;
  uploadUrl?: string;
  headers?: Record<string, string>;
  multipart?: { uploadId: string; partCount: number; parts: { partNumber: number; url: string; headers: Record<string, string> }[] };
};

let contributor: Awaited<ReturnType<typeof signUp>>;
let other: Awaited<ReturnType<typeof signUp>>;
beforeAll(async () => {
  [contributor, other] = await Promise.all([signUp("contributor"), signUp("contributor")]);
  await drainJobs(300);
});

const bytes = (n: number) => new Uint8Array(n).map((_, i) => (i * 31) % 251);

async function start(body: Record<string, unknown>, token = contributor.accessToken) {
  const res = await api("/v1/uploads", { method: "POST", token, json: { title: "Harbour at dawn", contentType: "image/jpeg", bytes: 1000, ...body } });
  return { res, ticket: (res.status === 201 ? await res.clone().json() : null) as Ticket };
}

const complete = (imageId: string, json: unknown = {}, token = contributor.accessToken) => api(`/v1/uploads/${imageId}/complete`, { method: "POST", token, json });

describe("POST /v1/uploads", () => {
  it("creates the listing awaiting upload and signs a PUT for that key, type and length", async () => {
    const { res, ticket } = await start({ keywords: ["Harbour", "dawn", "harbour"], description: "Boats" });
    expect(res.status).toBe(201);
    expect(ticket.key).toBe(`uploads/${contributor.userId}/${ticket.imageId}.jpg`);
    expect(ticket.headers).toEqual({ "content-type": "image/jpeg", "content-length": "1000" });
    const url = new URL(ticket.uploadUrl as string);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("3600");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;content-type;host");
    const [row] = await db.select().from(images).where(eq(images.id, ticket.imageId));
    expect(row).toMatchObject({ status: "processing", stage: "awaiting_upload", declaredBytes: 1000, declaredContentType: "image/jpeg", description: "Boats" });
    const tags = await db.select().from(imageTags).where(eq(imageTags.imageId, ticket.imageId));
    expect(tags.map((t) => [t.tag, t.source]).sort()).toEqual([
      ["dawn", "contributor"],
      ["harbour", "contributor"],
    ]);

    // The signed URL takes exactly the declared file; anything else is refused by the signature check.
    const wrongType = await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: { ...ticket.headers, "content-type": "image/png" }, body: bytes(1000) });
    expect(wrongType.status).toBe(403);
    const wrongLength = await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: { ...ticket.headers, "content-length": "999" }, body: bytes(999) });
    expect(wrongLength.status).toBe(403);
    expect(await env.ORIGINALS.head(ticket.key)).toBeNull();
    const put = await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: ticket.headers, body: bytes(1000) });
    expect(put.status).toBe(200);
    expect((await env.ORIGINALS.head(ticket.key))?.size).toBe(1000);
  });

  it("refuses other formats with a 415 naming the accepted ones, and creates nothing", async () => {
    const before = await db.$count(images);
    const { res } = await start({ contentType: "image/gif" });
    expect(res.status).toBe(415);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    const body = (await res.json()) as { detail: string; accepted: string[] };
    expect(body.accepted).toEqual(["image/jpeg", "image/png", "image/tiff", "image/webp", "image/avif"]);
    expect(body.detail).toContain("image/gif is not accepted");
    expect(await db.$count(images)).toBe(before);
  });

  it("refuses files over 200 MB and unknown categories", async () => {
    expect((await start({ bytes: 200 * 1024 * 1024 + 1 })).res.status).toBe(422);
    const unknown = await start({ categories: ["no-such-category"] });
    expect(unknown.res.status).toBe(422);
    expect(JSON.stringify(await unknown.res.json())).toContain("no category no-such-category");
  });

  it("is for contributors: a buyer is refused", async () => {
    const buyer = await signUp("buyer");
    expect((await start({}, buyer.accessToken)).res.status).toBe(403);
  });
});

describe("completing an upload", () => {
  it("enqueues exactly one job however often it is called, and R2's event adds none", async () => {
    const { ticket } = await start({});
    await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: ticket.headers, body: bytes(1000) });
    const first = await complete(ticket.imageId);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ imageId: ticket.imageId, status: "processing", stage: "queued", enqueued: true });
    const again = await complete(ticket.imageId);
    expect(await again.json()).toMatchObject({ stage: "queued", enqueued: false });
    // The production path arriving late changes nothing either.
    const batch = createMessageBatch("edgestock-uploads", [
      {
        id: "evt-1",
        timestamp: new Date(),
        attempts: 1,
        body: { account: "a", bucket: "edgestock-originals", action: "PutObject", object: { key: ticket.key, size: 1000, eTag: "x" }, eventTime: new Date().toISOString() },
      },
    ]);
    await worker.queue(batch, env);
    expect((await drainJobs()).filter((id) => id === ticket.imageId)).toEqual([ticket.imageId]);
    const rows = await db.select().from(jobs).where(eq(jobs.imageId, ticket.imageId));
    expect(rows.map((r) => [r.jobType, r.status])).toEqual([["image.process", "queued"]]);
  });

  it("R2's event notification alone completes an upload (the production path)", async () => {
    const { ticket } = await start({});
    await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: ticket.headers, body: bytes(1000) });
    const event = { account: "a", bucket: "edgestock-originals", action: "PutObject", object: { key: ticket.key, size: 1000, eTag: "x" }, eventTime: new Date().toISOString() };
    await worker.queue(
      createMessageBatch("edgestock-uploads", [
        { id: "evt-2", timestamp: new Date(), attempts: 1, body: event },
        { id: "evt-3", timestamp: new Date(), attempts: 1, body: event },
      ]),
      env,
    );
    expect((await drainJobs()).filter((id) => id === ticket.imageId)).toEqual([ticket.imageId]);
    const [row] = await db.select().from(images).where(eq(images.id, ticket.imageId));
    expect(row?.stage).toBe("queued");
  });

  it("says so when nothing was uploaded yet, and enqueues nothing", async () => {
    const { ticket } = await start({});
    const res = await complete(ticket.imageId);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/PUT the file/);
    const [row] = await db.select().from(images).where(eq(images.id, ticket.imageId));
    expect(row?.stage).toBe("awaiting_upload");
    expect(await db.$count(jobs, eq(jobs.imageId, ticket.imageId))).toBe(0);
  });

  it("discards an upload whose size differs from the declared size", async () => {
    const { ticket } = await start({});
    // Written around the signed URL (as a misbehaving client with bucket access could): the edge still checks.
    await env.ORIGINALS.put(ticket.key, bytes(900));
    const res = await complete(ticket.imageId);
    expect(res.status).toBe(422);
    const [row] = await db.select().from(images).where(eq(images.id, ticket.imageId));
    expect(row).toMatchObject({ status: "processing_failed", stage: "failed" });
    expect(row?.statusReason).toContain("900 bytes but 1000 were declared");
    expect(await env.ORIGINALS.head(ticket.key)).toBeNull();
    expect(await db.$count(jobs, eq(jobs.imageId, ticket.imageId))).toBe(0);
  });

  it("hides other contributors' uploads (404)", async () => {
    const { ticket } = await start({});
    expect((await complete(ticket.imageId, {}, other.accessToken)).status).toBe(404);
    expect((await api(`/v1/images/${ticket.imageId}/status`, { token: other.accessToken })).status).toBe(404);
  });
});

describe("the upload key is not the delivered original's (issue 16)", () => {
  const uploadEvent = (key: string) => ({
    account: "a",
    bucket: "edgestock-originals",
    action: "PutObject",
    object: { key, size: 1000, eTag: "x" },
    eventTime: new Date().toISOString(),
  });
  const deliver = (body: unknown) => worker.queue(createMessageBatch("edgestock-uploads", [{ id: `evt-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body }]), env);
  const read = async (key: string) => new Uint8Array(await ((await env.ORIGINALS.get(key)) as R2ObjectBody).arrayBuffer());

  it("the presigned PUT writes under uploads/, never the key downloads serve; only the upload key's event completes", async () => {
    const { ticket } = await start({});
    const [row] = await db.select().from(images).where(eq(images.id, ticket.imageId));
    expect(row?.originalKey).toBe(`originals/${contributor.userId}/${ticket.imageId}.jpg`);
    expect(ticket.key).not.toBe(row?.originalKey);
    expect(new URL(ticket.uploadUrl as string).pathname).toBe(`/_local/s3/edgestock-originals/${ticket.key}`);
    expect((await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: ticket.headers, body: bytes(1000) })).status).toBe(200);
    expect(await env.ORIGINALS.head(row?.originalKey as string)).toBeNull();
    // R2 reporting an object at the original's key (the pipeline's write) completes nothing.
    await deliver(uploadEvent(row?.originalKey as string));
    expect((await db.select().from(images).where(eq(images.id, ticket.imageId)))[0]?.stage).toBe("awaiting_upload");
    await deliver(uploadEvent(ticket.key));
    expect((await db.select().from(images).where(eq(images.id, ticket.imageId)))[0]?.stage).toBe("queued");
    expect((await drainJobs()).filter((id) => id === ticket.imageId)).toEqual([ticket.imageId]);
  });

  it("after approval a PUT of other bytes (same type and length) to the same URL changes nothing buyers get, and its event removes it", async () => {
    const { ticket } = await start({});
    const vetted = bytes(1000);
    expect((await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: ticket.headers, body: vetted })).status).toBe(200);
    expect((await complete(ticket.imageId)).status).toBe(200);
    // As the pipeline finishes (gpu-worker/jobs/image-process.ts, run for real in test/e2e/pipeline.test.ts):
    // the vetted bytes at the original key, the row approved, the upload deleted.
    const [row] = await db.select().from(images).where(eq(images.id, ticket.imageId));
    const originalKey = row?.originalKey as string;
    await env.ORIGINALS.put(originalKey, vetted);
    await env.ORIGINALS.delete(ticket.key);
    await db.update(images).set({ stage: "done", status: "approved" }).where(eq(images.id, ticket.imageId));

    const swapped = new Uint8Array(1000).fill(0x42);
    expect((await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: ticket.headers, body: swapped })).status).toBe(200);
    expect(await read(originalKey)).toEqual(vetted);
    // R2's event for that late PUT: nothing is enqueued and the stray upload is deleted.
    await deliver(uploadEvent(ticket.key));
    expect(await env.ORIGINALS.head(ticket.key)).toBeNull();
    expect(await read(originalKey)).toEqual(vetted);
    expect((await drainJobs(500)).filter((id) => id === ticket.imageId)).toEqual([]);
    expect((await complete(ticket.imageId)).status).toBe(200);
    expect(await db.$count(jobs, eq(jobs.imageId, ticket.imageId))).toBe(1);
  });
});

describe("multipart uploads", () => {
  it("uploads parts to presigned URLs, re-signs parts, completes with ETags, and enqueues once", async () => {
    const size = MULTIPART_PART_BYTES + 12_345;
    const { res, ticket } = await start({ bytes: size, multipart: true });
    expect(res.status).toBe(201);
    expect(ticket.uploadUrl).toBeUndefined();
    expect(ticket.multipart).toMatchObject({ partCount: 2 });
    expect(ticket.key).toMatch(/^uploads\//);
    expect(ticket.multipart?.parts.every((part) => new URL(part.url).pathname.endsWith(`/edgestock-originals/${ticket.key}`))).toBe(true);
    const body = bytes(size);
    const parts: { partNumber: number; etag: string }[] = [];
    for (const part of ticket.multipart?.parts ?? []) {
      expect(part.headers["content-length"]).toBe(String(part.partNumber === 1 ? MULTIPART_PART_BYTES : 12_345));
      const slice = body.subarray((part.partNumber - 1) * MULTIPART_PART_BYTES, part.partNumber * MULTIPART_PART_BYTES);
      const put = await SELF.fetch(part.url, { method: "PUT", headers: part.headers, body: slice });
      expect(put.status).toBe(200);
      parts.push({ partNumber: part.partNumber, etag: put.headers.get("etag") as string });
    }
    // Resuming after a dropped connection: fresh URLs for a part.
    const resigned = await api(`/v1/uploads/${ticket.imageId}/parts`, { method: "POST", token: contributor.accessToken, json: { partNumbers: [2] } });
    expect(resigned.status).toBe(200);
    expect(((await resigned.json()) as { parts: { partNumber: number }[] }).parts.map((p) => p.partNumber)).toEqual([2]);
    const done = await complete(ticket.imageId, { parts });
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ stage: "queued", enqueued: true });
    const stored = await env.ORIGINALS.get(ticket.key);
    // Compared by digest: a deep equality over 16 MB would exhaust the test isolate's heap.
    const digest = async (data: ArrayBuffer | Uint8Array) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))].join(",");
    expect(await digest(await (stored as R2ObjectBody).arrayBuffer())).toBe(await digest(body));
    expect((await drainJobs()).filter((id) => id === ticket.imageId)).toHaveLength(1);
  });

  it("abandons an upload: aborts it and removes the listing", async () => {
    const { ticket } = await start({ bytes: MULTIPART_PART_BYTES * 2, multipart: true });
    const res = await api(`/v1/uploads/${ticket.imageId}`, { method: "DELETE", token: contributor.accessToken });
    expect(res.status).toBe(204);
    expect(await db.$count(images, eq(images.id, ticket.imageId))).toBe(0);
    expect(await env.ORIGINALS.head(ticket.key)).toBeNull();
  });
});

describe("a contributor's image", () => {
  async function processed() {
    const { ticket } = await start({ keywords: ["sea"] });
    await db.update(images).set({ stage: "done", status: "approved" }).where(eq(images.id, ticket.imageId));
    return ticket.imageId;
  }

  it("shows its status", async () => {
    const { ticket } = await start({});
    const res = await api(`/v1/images/${ticket.imageId}/status`, { token: contributor.accessToken });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ imageId: ticket.imageId, status: "processing", stage: "awaiting_upload", reason: null, attempts: 0, withdrawn: false });
  });

  it("edits metadata: contributor keywords are replaced, AI tags stay", async () => {
    const imageId = await processed();
    await db.insert(imageTags).values({ imageId, tag: "boat", source: "ai", confidence: 0.8 });
    const res = await api(`/v1/images/${imageId}`, {
      method: "PATCH",
      token: contributor.accessToken,
      json: { title: "Sea at dusk", keywords: ["ocean", "dusk"], editorial: true },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ title: "Sea at dusk", editorial: true });
    const tags = await db.select({ tag: imageTags.tag, source: imageTags.source }).from(imageTags).where(eq(imageTags.imageId, imageId));
    expect(tags.map((t) => `${t.tag}:${t.source}`).sort()).toEqual(["boat:ai", "dusk:contributor", "ocean:contributor"]);
    const [row] = await db.select({ tagText: images.tagText }).from(images).where(eq(images.id, imageId));
    expect(row?.tagText).toBe("boat dusk ocean");
    expect((await api(`/v1/images/${imageId}`, { method: "PATCH", token: other.accessToken, json: { title: "Mine now" } })).status).toBe(404);
  });

  it("withdraws from sale, idempotently", async () => {
    const imageId = await processed();
    const first = await api(`/v1/images/${imageId}`, { method: "DELETE", token: contributor.accessToken });
    expect(first.status).toBe(200);
    const { withdrawnAt } = (await first.json()) as { withdrawnAt: string };
    const second = await api(`/v1/images/${imageId}`, { method: "DELETE", token: contributor.accessToken });
    expect(((await second.json()) as { withdrawnAt: string }).withdrawnAt).toBe(withdrawnAt);
    const [row] = await db.select().from(images).where(eq(images.id, imageId));
    expect(row?.withdrawnAt?.toISOString()).toBe(withdrawnAt);
    // The original stays: buyers who licensed it keep their downloads.
    expect(row?.originalKey).toBeTruthy();
  });
});

describe("the maintenance sweep", () => {
  it("re-sends a job whose message was lost, and leaves fresh and finished ones alone", async () => {
    const { ticket } = await start({});
    await SELF.fetch(ticket.uploadUrl as string, { method: "PUT", headers: ticket.headers, body: bytes(1000) });
    await complete(ticket.imageId);
    await drainJobs(); // the message is "lost"
    const later = new Date(Date.now() + STALE_JOB_MS + 60_000);
    expect(await resendStaleJobs(db, env.JOBS, new Date())).toBe(0);
    const resent = await resendStaleJobs(db, env.JOBS, later);
    expect(resent).toBeGreaterThanOrEqual(1);
    expect(await drainJobs()).toContain(ticket.imageId);
    await db.update(images).set({ stage: "done" }).where(eq(images.id, ticket.imageId));
    await db
      .update(jobs)
      .set({ updatedAt: new Date(0) })
      .where(and(eq(jobs.imageId, ticket.imageId)));
    await resendStaleJobs(db, env.JOBS, later);
    expect(await drainJobs()).not.toContain(ticket.imageId);
  });
});
