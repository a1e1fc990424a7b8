import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq, isNotNull, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { jobMessage } from "../../common/jobs";
import { createLogger } from "../../common/log";
import { connectDatabase } from "../../db/connect";
import { activeModel, dropRetiredModels, embeddingsOf, modelIs, registerModel, type SearchModel, switchProgress, vectorDistance } from "../../db/embedding-models";
import { startLocalDatabase } from "../../db/local/server";
import { type EmbeddingModel, imageEmbeddings, imageTags, users } from "../../db/schema";
import type { ObjectStore } from "../../gpu-worker/jobs/image-outputs";
import { type ImageJobDeps, processImage } from "../../gpu-worker/jobs/image-process";
import { type ClipModel, loadClipModel } from "../../gpu-worker/ml/clip";
import { createTagger, type Tagger } from "../../gpu-worker/ml/tagger";
import { type ReembedDeps, reembedBatch, runReembedding } from "../../gpu-worker/reembed";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";
import { queuedUpload } from "../support/uploads";

/**
 * A switch of CLIP model end to end on the worker's side (gpu-worker/reembed.ts): two generated
 * models of different widths (512 and 768), a real database (PGlite through the Neon driver, or the
 * TEST_DATABASE_URL server), real sharp and onnxruntime, originals in memory. Searches running
 * throughout must always find every image through one whole model; a batch that dies stores nothing
 * and the next run picks up where the last commit left off; uploads during the switch get both
 * embeddings; the new model's AI tags arrive with the switch.
 */

const work = mkdtempSync(join(tmpdir(), "edgestock-reembed-"));
const ORIGINALS = "originals";
const silent = createLogger({}, { write: () => {} });

let stopDatabase: () => Promise<void>;
let db: ReturnType<typeof connectDatabase>["db"];
let pool: ReturnType<typeof connectDatabase>["pool"];
let oldClip: ClipModel;
let newClip: ClipModel;
let newTagger: Tagger;
let oldModel: EmbeddingModel;
let newModel: EmbeddingModel;
let contributorId: string;
const objects = new Map<string, Uint8Array>();
const store: ObjectStore = {
  getObject: async (bucket, key) => objects.get(`${bucket}/${key}`) ?? null,
  putObject: async (bucket, key, body) => objects.set(`${bucket}/${key}`, Uint8Array.from(body)),
  deleteObject: async (bucket, key) => objects.delete(`${bucket}/${key}`),
};
const ids: string[] = [];

/** Uploads and processes one image with `models`, as a live upload goes. */
async function upload(seed: number, models: ImageJobDeps["models"]): Promise<string> {
  const id = await queuedUpload(db, store, { contributorId, seed, originalsBucket: ORIGINALS });
  const deps: ImageJobDeps = {
    db,
    store,
    models,
    settings: { originalsBucket: ORIGINALS, derivativesBucket: "derivatives", maxInputPixels: 40_000_000, phashMaxDistance: 0, nsfwThreshold: 0.1 },
  };
  const outcome = await processImage(deps, jobMessage("image.process", { imageId: id }), { attempt: 1, signal: new AbortController().signal, log: silent });
  expect(outcome.outcome).toBe("done");
  return id;
}

/** A search by meaning as the route runs it: the active model, then its nearest rows through its index. */
async function search(): Promise<{ model: string; found: number }> {
  const model = (await activeModel(db)) as SearchModel;
  const query = Array.from({ length: model.dimensions }, (_, i) => Math.sin(i));
  const distance = vectorDistance(model, "e", sql`${`[${query.join(",")}]`}`);
  const { rows } = await db.execute<{ id: string }>(
    sql`select i.id from image_embeddings e join images i on i.id = e.image_id where ${modelIs(model, "e")} and i.contributor_id = ${contributorId} order by ${distance} limit 100`,
  );
  return { model: model.model, found: rows.length };
}

const deps = (overrides: Partial<ReembedDeps> = {}): ReembedDeps => ({
  db,
  store,
  settings: { originalsBucket: ORIGINALS, maxInputPixels: 40_000_000 },
  clip: newClip,
  tagger: newTagger,
  log: () => {},
  batchSize: 3,
  ...overrides,
});

beforeAll(async () => {
  const serverUrl = process.env.TEST_DATABASE_URL;
  const local = serverUrl ? await createServerDatabase(serverUrl) : await startLocalDatabase({});
  stopDatabase = local.stop;
  ({ db, pool } = connectDatabase(local.url, { localProxy: local.proxy, webSocket: WebSocket }));
  await writeTestClipModel(join(work, "clip-old"), { layout: "immich", embedDim: 512, seed: 1 });
  await writeTestClipModel(join(work, "clip-new"), { layout: "immich", embedDim: 768, seed: 2 });
  const options = { executionProviders: ["cpu" as const], maxBatch: 8, maxWaitMs: 0 };
  [oldClip, newClip] = await Promise.all([loadClipModel(join(work, "clip-old"), options), loadClipModel(join(work, "clip-new"), options)]);
  newTagger = await createTagger(newClip, { cacheDir: join(work, "tagger-new") });
  const oldTagger = await createTagger(oldClip, { cacheDir: join(work, "tagger-old") });
  oldModel = await registerModel(db, { model: oldClip.modelId, version: oldClip.version, dimensions: oldClip.embedDim });
  const [user] = await db
    .insert(users)
    .values({ email: `reembed-${crypto.randomUUID()}@example.test`, passwordHash: "x", role: "contributor", displayName: "Switch" })
    .returning({ id: users.id });
  contributorId = user?.id ?? "";
  for (let seed = 1; seed <= 10; seed++) ids.push(await upload(seed, { nsfw: null, clip: oldClip, tagger: oldTagger }));
}, 180_000);

afterAll(async () => {
  await oldClip?.close();
  await newClip?.close();
  await pool?.end();
  await stopDatabase?.();
  rmSync(work, { recursive: true, force: true });
});

/** A scratch database on the server, reached through the same proxy the worker uses. */
async function createServerDatabase(serverUrl: string) {
  const { createScratchDatabase } = await import("../../db/local/scratch");
  const scratch = await createScratchDatabase(serverUrl, "edgestock_reembed");
  const proxy = await startLocalDatabase({ serverUrl: scratch.url });
  return {
    url: scratch.url,
    proxy: proxy.proxy,
    stop: async () => {
      await proxy.stop();
      await scratch.drop();
    },
  };
}

describe("switching the CLIP model (512 → 768 dimensions)", () => {
  it("starts with the first model active and every image embedded by it", async () => {
    expect(oldModel.state).toBe("active");
    expect(await search()).toEqual({ model: oldClip.modelId, found: 10 });
  });

  it("embeds in batches; a batch that dies stores nothing; uploads meanwhile get both embeddings", async () => {
    newModel = await registerModel(db, { model: newClip.modelId, version: newClip.version, dimensions: newClip.embedDim });
    expect(newModel.state).toBe("building");
    const active = (await activeModel(db)) as SearchModel;

    const first = await reembedBatch(deps(), newModel, active, null);
    expect(first).toMatchObject({ embedded: 3, failed: 0 });
    expect(await switchProgress(db)).toMatchObject({ done: 3, total: 10 });

    // The worker dies mid-batch (here: its model throws): the transaction rolls back, nothing is stored.
    const dying = { modelId: newClip.modelId, version: newClip.version, embedImages: async () => Promise.reject(new Error("killed")) };
    await expect(reembedBatch(deps({ clip: dying }), newModel, active, first.last)).rejects.toThrow("killed");
    expect(await switchProgress(db)).toMatchObject({ done: 3, total: 10 });

    // A live upload during the switch: the new model's embedding and the one search still reads.
    const live = await upload(99, { nsfw: null, clip: newClip, tagger: newTagger, previousClip: oldClip });
    ids.push(live);
    expect((await embeddingsOf(db, live)).map((e) => [e.model, e.vector.length]).sort()).toEqual(
      [
        [oldClip.modelId, 512],
        [newClip.modelId, 768],
      ].sort(),
    );
    expect(await switchProgress(db)).toMatchObject({ done: 4, total: 11 });
    // Search still reads the old model, and finds everything.
    expect(await search()).toEqual({ model: oldClip.modelId, found: 11 });
  });

  it("finishes after a restart, switches in one step under searches, and moves the AI tags with it", async () => {
    const seen: { model: string; found: number }[] = [];
    let running = true;
    const searching = (async () => {
      while (running) {
        seen.push(await search());
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const progress: number[] = [];
    // A fresh run (a restarted worker) starts from the beginning; what is done is skipped.
    const outcome = await runReembedding(deps(), newModel, { signal: new AbortController().signal, onProgress: (p) => progress.push(p.done) });
    running = false;
    await searching;
    seen.push(await search());

    expect(outcome).toBe("switched");
    expect((await activeModel(db))?.model).toBe(newClip.modelId);
    expect(progress.at(-1)).toBe(11);
    // Every search found every image, through one model or the other; the new one last.
    expect(seen.length).toBeGreaterThan(1);
    for (const s of seen) expect(s.found).toBe(11);
    // Old model until the switch, the new one from then on: never a mix, never back.
    const models = seen.map((s) => s.model);
    const firstNew = models.indexOf(newClip.modelId);
    expect(models[0]).toBe(oldClip.modelId);
    expect(firstNew).toBeGreaterThan(0);
    expect(models.slice(0, firstNew).every((m) => m === oldClip.modelId)).toBe(true);
    expect(models.slice(firstNew).every((m) => m === newClip.modelId)).toBe(true);

    // The staged labels were applied and cleared: each image's AI tags are the new tagger's.
    const staged = await db
      .select()
      .from(imageEmbeddings)
      .where(and(eq(imageEmbeddings.modelId, newModel.id), isNotNull(imageEmbeddings.labels)));
    expect(staged).toEqual([]);
    for (const id of ids.slice(0, 4)) {
      const [mine] = (await embeddingsOf(db, id)).filter((e) => e.model === newClip.modelId);
      const expected = newTagger
        .tag(Float32Array.from(mine?.vector ?? []))
        .tags.map((t) => t.tag)
        .sort();
      const stored = (
        await db
          .select({ tag: imageTags.tag })
          .from(imageTags)
          .where(and(eq(imageTags.imageId, id), eq(imageTags.source, "ai")))
      )
        .map((t) => t.tag)
        .sort();
      expect(stored, id).toEqual(expected);
    }
  });

  it("drops the old model's vectors after the grace period, and search keeps finding everything", async () => {
    expect(await dropRetiredModels(db, 0)).toEqual([oldClip.modelId]);
    for (const id of ids) expect((await embeddingsOf(db, id)).map((e) => e.model)).toEqual([newClip.modelId]);
    expect(await search()).toEqual({ model: newClip.modelId, found: 11 });
  });
});
