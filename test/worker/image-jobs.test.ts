import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { derivativeKey, NSFW_THRESHOLD, originalKey, privateRenditionKey, RENDITIONS, type RenditionName, uploadKey } from "../../common/images";
import { jobMessage } from "../../common/jobs";
import { createLogger } from "../../common/log";
import { connectDatabase } from "../../db/connect";
import { embeddingsOf, registerModel } from "../../db/embedding-models";
import { startLocalDatabase } from "../../db/local/server";
import { imageEmbeddings, images, imageTags, jobs, users } from "../../db/schema";
import { DEFAULT_NSFW_MODEL_PATH } from "../../gpu-worker/config";
import type { ObjectStore } from "../../gpu-worker/jobs/image-outputs";
import { type ImageJobDeps, processImage, recordProcessFailure } from "../../gpu-worker/jobs/image-process";
import { recordReprocessFailure, reprocessImage } from "../../gpu-worker/jobs/image-reprocess";
import { type ClipModel, loadClipModel } from "../../gpu-worker/ml/clip";
import { loadNsfwModel, type NsfwModel } from "../../gpu-worker/ml/nsfw";
import { createTagger } from "../../gpu-worker/ml/tagger";
import type { JobContext } from "../../gpu-worker/runner";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";
import { queuedUpload } from "../support/uploads";

/**
 * The image jobs against a real database (PGlite through the Neon driver, as the worker reaches
 * it), real sharp and onnxruntime (the NSFW model in git, a generated CLIP model and its tagger)
 * and an object store kept in memory: the live job's one commit, and the reprocess job re-running
 * named steps without touching what it does not own.
 */

const work = mkdtempSync(join(tmpdir(), "edgestock-image-jobs-"));
const ORIGINALS = "originals";
const DERIVATIVES = "derivatives";
const RENDITION_NAMES = Object.keys(RENDITIONS) as RenditionName[];

/** Buckets in memory, as R2 keeps them: bytes and the content type they were written with. */
function memoryStore() {
  const objects = new Map<string, { body: Uint8Array; contentType: string }>();
  const store: ObjectStore = {
    getObject: async (bucket, key) => objects.get(`${bucket}/${key}`)?.body ?? null,
    putObject: async (bucket, key, body, options) => objects.set(`${bucket}/${key}`, { body: Uint8Array.from(body), contentType: options.contentType }),
    deleteObject: async (bucket, key) => objects.delete(`${bucket}/${key}`),
  };
  return { store, has: (bucket: string, key: string) => objects.has(`${bucket}/${key}`), delete: (bucket: string, key: string) => objects.delete(`${bucket}/${key}`) };
}

/** What the runner hands a job on its `attempt`th delivery (a worker that is not stopping). */
const delivery = (attempt: number): JobContext => ({ attempt, signal: new AbortController().signal, log: createLogger({}, { write: () => {} }) });

let stopDatabase: () => Promise<void>;
let db: ReturnType<typeof connectDatabase>["db"];
let pool: ReturnType<typeof connectDatabase>["pool"];
let nsfw: NsfwModel;
let clip: ClipModel;
let deps: ImageJobDeps;
let buckets: ReturnType<typeof memoryStore>;
let contributorId: string;

beforeAll(async () => {
  const local = await startLocalDatabase({});
  stopDatabase = local.stop;
  ({ db, pool } = connectDatabase(local.url, { localProxy: local.proxy, webSocket: WebSocket }));
  await writeTestClipModel(join(work, "clip"), { layout: "immich", embedDim: 512 });
  [nsfw, clip] = await Promise.all([loadNsfwModel(DEFAULT_NSFW_MODEL_PATH), loadClipModel(join(work, "clip"), { executionProviders: ["cpu"], maxBatch: 8, maxWaitMs: 0 })]);
  const tagger = await createTagger(clip, { cacheDir: join(work, "tagger-cache") });
  // As the worker does at start (gpu-worker/ml/models.ts joinCatalogue): the first model is active.
  await registerModel(db, { model: clip.modelId, version: clip.version, dimensions: clip.embedDim });
  buckets = memoryStore();
  deps = {
    db,
    store: buckets.store,
    models: { nsfw, clip, tagger },
    settings: { originalsBucket: ORIGINALS, derivativesBucket: DERIVATIVES, maxInputPixels: 40_000_000, phashMaxDistance: 6, nsfwThreshold: NSFW_THRESHOLD },
  };
  const [user] = await db
    .insert(users)
    .values({ email: `jobs-${crypto.randomUUID()}@example.test`, passwordHash: "x", role: "contributor", displayName: "Image jobs" })
    .returning({ id: users.id });
  contributorId = user?.id ?? "";
});

afterAll(async () => {
  await nsfw?.close();
  await clip?.close();
  await pool?.end();
  await stopDatabase?.();
  rmSync(work, { recursive: true, force: true });
});

/** An image whose upload has landed and whose job is queued, as the edge leaves it. */
const uploaded = (seed: number) => queuedUpload(db, buckets.store, { contributorId, seed, originalsBucket: ORIGINALS });

const row = async (id: string) => (await db.select().from(images).where(eq(images.id, id)))[0] as typeof images.$inferSelect;
const job = async (id: string, type: string) =>
  (
    await db
      .select()
      .from(jobs)
      .where(and(eq(jobs.imageId, id), eq(jobs.jobType, type)))
  )[0];
const tagsOf = async (id: string) =>
  (await db.select({ tag: imageTags.tag, source: imageTags.source }).from(imageTags).where(eq(imageTags.imageId, id))).sort((a, b) => a.tag.localeCompare(b.tag));

describe("image.process", () => {
  it("stores every step's columns in one commit, renditions private (and public once approved), and skips a redelivery", async () => {
    const id = await uploaded(1);
    const outcome = await processImage(deps, jobMessage("image.process", { imageId: id }), delivery(1));
    expect(outcome.outcome).toBe("done");

    const image = await row(id);
    const approved = (image.nsfwScore as number) < NSFW_THRESHOLD;
    expect(image).toMatchObject({
      stage: "done",
      status: approved ? "approved" : "pending_review",
      format: "jpeg",
      width: 640,
      height: 420,
      mlStatus: "done",
    });
    expect(image.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof image.phash).toBe("bigint");
    expect(image.palette?.length).toBeGreaterThan(0);
    expect(await embeddingsOf(db, id)).toEqual([expect.objectContaining({ model: clip.modelId, version: clip.version, state: "active", vector: expect.any(Array) })]);
    expect((await embeddingsOf(db, id))[0]?.vector).toHaveLength(512);
    expect(Object.keys(image.derivativeKeys ?? {}).sort()).toEqual([...RENDITION_NAMES].sort());
    expect((await tagsOf(id)).map((t) => t.tag).join(" ")).toBe(image.tagText);
    for (const name of RENDITION_NAMES) {
      expect(buckets.has(ORIGINALS, privateRenditionKey(derivativeKey(id, name)))).toBe(true);
      expect(buckets.has(DERIVATIVES, derivativeKey(id, name))).toBe(approved);
    }
    expect(buckets.has(ORIGINALS, uploadKey(contributorId, id, "image/jpeg"))).toBe(false);
    expect(buckets.has(ORIGINALS, originalKey(contributorId, id, "image/jpeg"))).toBe(true);
    expect(await job(id, "image.process")).toMatchObject({ status: "done", attempts: 1 });

    expect(await processImage(deps, jobMessage("image.process", { imageId: id }), delivery(2))).toMatchObject({ outcome: "skipped" });
  });

  it("commits nothing once its signal is aborted (released to another worker), which then finishes it", async () => {
    const id = await uploaded(5);
    const stopped = new AbortController();
    stopped.abort(new Error("the worker is stopping"));
    await expect(processImage(deps, jobMessage("image.process", { imageId: id }), { ...delivery(1), signal: stopped.signal })).rejects.toThrow(/stopping/);
    expect(await row(id)).toMatchObject({ status: "processing", stage: "processing", sha256: null });
    expect(await processImage(deps, jobMessage("image.process", { imageId: id }), delivery(2))).toMatchObject({ outcome: "done" });
  });

  it("marks the image processing_failed only on the job's last attempt", async () => {
    const id = await uploaded(2);
    await db.insert(jobs).values({ imageId: id, jobType: "image.process", status: "running" });
    const record = recordProcessFailure(db);
    await record(jobMessage("image.process", { imageId: id }), new Error("R2 timed out"), { attempt: 1, final: false });
    expect(await row(id)).toMatchObject({ status: "processing", stage: "queued" });
    expect(await job(id, "image.process")).toMatchObject({ status: "failed", lastError: "R2 timed out" });
    await record(jobMessage("image.process", { imageId: id }), new Error("R2 timed out"), { attempt: 3, final: true });
    expect(await row(id)).toMatchObject({ status: "processing_failed", stage: "failed" });
    expect(await job(id, "image.process")).toMatchObject({ status: "dead" });
  });
});

describe("image.reprocess", () => {
  let id: string;
  let processed: typeof images.$inferSelect;
  const takenDownAt = new Date("2026-06-01T00:00:00Z");

  beforeAll(async () => {
    id = await uploaded(3);
    await processImage(deps, jobMessage("image.process", { imageId: id }), delivery(1));
    // Taken down since, and its stored columns out of date (or wiped) as before a back-fill.
    await db
      .update(images)
      .set({
        status: "rejected",
        statusReason: "taken down",
        takenDownAt,
        palette: [],
        colourBucket: null,
        phash: 0n,
        metadata: {},
        mlStatus: "pending",
        nsfwScore: 0.99,
      })
      .where(eq(images.id, id));
    await db.delete(imageEmbeddings).where(eq(imageEmbeddings.imageId, id));
    processed = await row(id);
    await db.insert(imageTags).values([
      { imageId: id, tag: "an old model's tag", confidence: 0.5, source: "ai" },
      { imageId: id, tag: "harbour", confidence: null, source: "contributor" },
    ]);
    for (const name of RENDITION_NAMES) {
      buckets.delete(ORIGINALS, privateRenditionKey(derivativeKey(id, name)));
      buckets.delete(DERIVATIVES, derivativeKey(id, name));
    }
  });

  it("re-runs the named steps from the stored original and writes only their columns", async () => {
    const outcome = await reprocessImage(deps, jobMessage("image.reprocess", { imageId: id, steps: ["colours", "embedding", "tags"] }), delivery(1));
    expect(outcome.outcome).toBe("done");
    const after = await row(id);
    // Named: recomputed.
    expect(after.palette?.length).toBeGreaterThan(0);
    expect(after.colourBucket).not.toBeNull();
    expect((await embeddingsOf(db, id)).map((e) => [e.model, e.vector.length])).toEqual([[clip.modelId, 512]]);
    expect(after).toMatchObject({ mlStatus: "done" });
    const tags = await tagsOf(id);
    expect(tags.map((t) => t.tag)).not.toContain("an old model's tag");
    expect(tags).toContainEqual({ tag: "harbour", source: "contributor" });
    expect(after.tagText).toBe(tags.map((t) => t.tag).join(" "));
    // Not named, or never a reprocess's: untouched.
    expect(after).toMatchObject({
      phash: 0n,
      metadata: {},
      nsfwScore: 0.99,
      sha256: processed.sha256,
      status: "rejected",
      statusReason: "taken down",
      takenDownAt,
      publishedAt: processed.publishedAt,
    });
    expect(await job(id, "image.reprocess")).toMatchObject({ status: "done" });
  });

  it("is idempotent: the same steps again give the same row", async () => {
    const steps = ["colours", "embedding", "tags"] as const;
    const before = await row(id);
    const tagsBefore = await tagsOf(id);
    await reprocessImage(deps, jobMessage("image.reprocess", { imageId: id, steps: [...steps] }), delivery(1));
    const { updatedAt: _a, ...again } = await row(id);
    const { updatedAt: _b, ...first } = before;
    expect(again).toEqual(first);
    expect(await tagsOf(id)).toEqual(tagsBefore);
  });

  it("renders renditions of an image that is not listed privately only", async () => {
    await reprocessImage(deps, jobMessage("image.reprocess", { imageId: id, steps: ["renditions"] }), delivery(1));
    for (const name of RENDITION_NAMES) {
      expect(buckets.has(ORIGINALS, privateRenditionKey(derivativeKey(id, name)))).toBe(true);
      expect(buckets.has(DERIVATIVES, derivativeKey(id, name))).toBe(false);
    }
    expect((await row(id)).status).toBe("rejected");
  });

  it("refuses a step whose model the worker lacks instead of erasing what is stored", async () => {
    const withoutNsfw = { ...deps, models: { ...deps.models, nsfw: null } };
    await expect(reprocessImage(withoutNsfw, jobMessage("image.reprocess", { imageId: id, steps: ["nsfw"] }), delivery(1))).rejects.toThrow(/NSFW classifier/);
    expect((await row(id)).nsfwScore).toBe(0.99);
  });

  it("records a final failure on its job without touching the image", async () => {
    await recordReprocessFailure(db)(jobMessage("image.reprocess", { imageId: id, steps: ["nsfw"] }), new Error("no NSFW classifier"), { attempt: 3, final: true });
    expect(await job(id, "image.reprocess")).toMatchObject({ status: "dead", lastError: "no NSFW classifier" });
    expect(await row(id)).toMatchObject({ status: "rejected", stage: "done" });
  });

  it("skips an image that is not processed yet", async () => {
    const pending = await uploaded(4);
    expect(await reprocessImage(deps, jobMessage("image.reprocess", { imageId: pending, steps: ["colours"] }), delivery(1))).toMatchObject({ outcome: "skipped" });
    expect((await row(pending)).stage).toBe("queued");
  });
});
