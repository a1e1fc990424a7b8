import { and, eq, isNotNull, sql } from "drizzle-orm";
import type { Database } from "../db/connect";
import { activateWhenCovered, activeModel, type SearchModel, storeEmbeddingRows, switchProgress } from "../db/embedding-models";
import { type EmbeddingModel, imageEmbeddings, type StagedLabels } from "../db/schema";
import { decodeWorking, type RawImage } from "./imaging";
import { type ObjectStore, storeAiLabels } from "./jobs/image-outputs";
import type { Tagger } from "./ml/tagger";
import type { ImageEmbedder } from "./pipeline/inference";

/**
 * The background half of a CLIP model switch (db/embedding-models.ts). A worker whose model is
 * `building` embeds, batch by batch, every image the active model has and it lacks, from the stored
 * original, with the AI tags and categories its tagger gives (staged beside the vector). Each batch
 * is one transaction over rows locked with SKIP LOCKED, so any number of workers share the work and a
 * killed worker loses only its batch in flight: the next pass finds what is still missing. When a
 * pass finds nothing left, the model becomes active in one step; then the staged labels replace the
 * old model's, in batches. Images whose original cannot be read are logged and tried again on the
 * next pass (the switch waits for them: delete or take them down to let it through).
 */

export type ReembedDeps = {
  db: Database;
  store: Pick<ObjectStore, "getObject">;
  settings: { originalsBucket: string; maxInputPixels: number };
  /** The worker's model, being rolled in. */
  clip: ImageEmbedder;
  tagger: Pick<Tagger, "tag"> | null;
  log: (level: "info" | "warn", msg: string, extra?: Record<string, unknown>) => void;
  /** Images per batch (and per transaction). */
  batchSize: number;
};

export type ReembedProgress = { model: string; done: number; total: number; failed: number; checkedAt: string };

type Candidate = { imageId: string; originalKey: string | null };

/**
 * One batch: up to `batchSize` images after `after` (image id order) that the active model has and
 * `model` lacks, not locked by another worker. Returns the last image id looked at (null when the
 * pass is over) and how many were embedded and how many could not be read.
 */
export async function reembedBatch(
  deps: ReembedDeps,
  model: Pick<EmbeddingModel, "id">,
  active: Pick<SearchModel, "id">,
  after: string | null,
): Promise<{ last: string | null; embedded: number; failed: number }> {
  const { db, store, settings, clip, tagger, log } = deps;
  return db.transaction(async (tx) => {
    const { rows } = await tx.execute<{ image_id: string; original_key: string | null }>(sql`select a.image_id, i.original_key
      from image_embeddings a join images i on i.id = a.image_id
      where a.model_id = ${active.id} ${after ? sql`and a.image_id > ${after}` : sql``}
        and not exists (select 1 from image_embeddings b where b.image_id = a.image_id and b.model_id = ${model.id})
      order by a.image_id
      limit ${deps.batchSize}
      for update of a skip locked`);
    const candidates: Candidate[] = rows.map((r) => ({ imageId: r.image_id, originalKey: r.original_key }));
    if (candidates.length === 0) return { last: null, embedded: 0, failed: 0 };
    const read: { imageId: string; raster: RawImage }[] = [];
    let failed = 0;
    for (const c of candidates) {
      try {
        const bytes = c.originalKey ? await store.getObject(settings.originalsBucket, c.originalKey) : null;
        if (!bytes) throw new Error(`the original ${c.originalKey ?? "(none)"} is not in the bucket`);
        read.push({ imageId: c.imageId, raster: await decodeWorking(bytes, settings.maxInputPixels) });
      } catch (error) {
        failed++;
        log("warn", "re-embedding: an original could not be read; the switch waits for it", { imageId: c.imageId, error: (error as Error).message });
      }
    }
    const vectors = read.length > 0 ? await clip.embedImages(read.map((r) => r.raster)) : [];
    // The new model's AI labels, staged with its vectors until the switch.
    const labelsOf = (vector: Float32Array): StagedLabels | null => {
      if (!tagger) return null;
      const { tags, categories } = tagger.tag(vector);
      return { tags, categories };
    };
    await storeEmbeddingRows(
      tx,
      read.map((r, i) => ({ imageId: r.imageId, model: clip.modelId, version: clip.version, vector: vectors[i] as Float32Array, labels: labelsOf(vectors[i] as Float32Array) })),
    );
    return { last: candidates.at(-1)?.imageId ?? null, embedded: read.length, failed };
  });
}

/**
 * Applies the staged AI labels of `model` (now active) to their images, replacing the AI tags and
 * categories of the old model, `batchSize` images a transaction. Returns how many it applied.
 */
export async function applyStagedLabels(db: Database, model: Pick<EmbeddingModel, "id">, batchSize: number): Promise<number> {
  let applied = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      const rows = await tx
        .select({ imageId: imageEmbeddings.imageId, labels: imageEmbeddings.labels })
        .from(imageEmbeddings)
        .where(and(eq(imageEmbeddings.modelId, model.id), isNotNull(imageEmbeddings.labels)))
        .orderBy(imageEmbeddings.imageId)
        .limit(batchSize)
        .for("update", { skipLocked: true });
      for (const row of rows) {
        if (row.labels) await storeAiLabels(tx, row.imageId, row.labels, { replace: true });
        await tx
          .update(imageEmbeddings)
          .set({ labels: null })
          .where(and(eq(imageEmbeddings.imageId, row.imageId), eq(imageEmbeddings.modelId, model.id)));
      }
      return rows.length;
    });
    if (n === 0) return applied;
    applied += n;
  }
}

/**
 * Runs the switch to `model` until it is active and its labels applied, or `signal` aborts (between
 * batches). Passes over the catalogue repeat, `retryMs` apart, while images are left that could not be
 * read; `onProgress` hears the progress after each pass and every `progressEveryMs`.
 */
export async function runReembedding(
  deps: ReembedDeps,
  model: EmbeddingModel,
  options: { signal: AbortSignal; retryMs?: number; progressEveryMs?: number; onProgress?: (progress: ReembedProgress) => void },
): Promise<"switched" | "stopped"> {
  const { db, log } = deps;
  const retryMs = options.retryMs ?? 60_000;
  const progressEveryMs = options.progressEveryMs ?? 60_000;
  let failed = 0;
  let reportedAt = 0;
  const report = async () => {
    reportedAt = Date.now();
    const p = await switchProgress(db);
    // Once switched, the model is the active one: it covers what it has.
    const done = p.active?.id === model.id ? p.total : p.done;
    options.onProgress?.({ model: model.model, done, total: p.total, failed, checkedAt: new Date().toISOString() });
  };
  while (!options.signal.aborted) {
    const active = await activeModel(db);
    if (active?.id === model.id) break;
    if (!active) return "stopped";
    await report();
    log("info", "re-embedding the catalogue for a CLIP model switch", { model: model.model, from: active.model });
    failed = 0;
    let after: string | null = null;
    let embedded = 0;
    const started = performance.now();
    do {
      const batch = await reembedBatch(deps, model, active, after);
      after = batch.last;
      embedded += batch.embedded;
      failed += batch.failed;
      if (Date.now() - reportedAt > progressEveryMs) await report();
    } while (after !== null && !options.signal.aborted);
    if (options.signal.aborted) break;
    const seconds = (performance.now() - started) / 1000;
    log("info", "re-embedding pass finished", {
      model: model.model,
      embedded,
      failed,
      seconds: Math.round(seconds),
      imagesPerSecond: seconds > 0 ? Math.round(embedded / seconds) : null,
    });
    if (await activateWhenCovered(db, model.id)) {
      log("info", "CLIP model switched: search now reads the new model", { model: model.model, from: active.model });
      break;
    }
    await report();
    // Images left (unreadable originals, or locked by another worker): try again later.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, retryMs);
      options.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
  if (options.signal.aborted) return "stopped";
  model.state = "active";
  const applied = await applyStagedLabels(db, model, deps.batchSize);
  if (applied > 0) log("info", "AI tags and categories of the new model applied", { model: model.model, images: applied });
  await report();
  return "switched";
}
