import type { RawImage } from "../imaging";
import type { NsfwModel } from "../ml/nsfw";
import type { Tagger } from "../ml/tagger";

/**
 * The ML steps, one function for every caller: a batch of one for a live upload, of up to --batch
 * (32) for the importer, any subset for a reprocess. The NSFW classifier in runs of up to
 * {@link NSFW_RUN} images, one CLIP `embedImages` call (its batcher groups concurrent callers), then
 * the tagger per embedding. A missing model leaves its fields null or empty (the moderation rule
 * then holds the image for review; ml_status says "unavailable").
 */

/**
 * The NSFW classifier runs on the CPU (gpu-worker/ml/nsfw.ts), where a larger batch is no faster
 * per image but costs memory: on the 2-core dev machine 8 images per run took 17-24 ms each and
 * 32 per run 31 ms each, while resident memory went from about 0.4 to 1 GB (MobileNetV2's
 * activations for every image of the run at once).
 */
export const NSFW_RUN = 8;

/** The CLIP image encoder as inference needs it (gpu-worker/ml/clip.ts ClipModel). */
export type ImageEmbedder = { modelId: string; version: string; embedImages(images: readonly RawImage[]): Promise<Float32Array[]> };

/** What inference runs with; each model null when it is not installed. */
export type InferenceModels = {
  nsfw: Pick<NsfwModel, "score"> | null;
  clip: ImageEmbedder | null;
  tagger: Pick<Tagger, "tag"> | null;
  /**
   * During a switch of CLIP model (db/embedding-models.ts), the model search still reads: images get
   * its embedding too, so they are found before and after the switch. No tags from it.
   */
  previousClip?: ImageEmbedder | null;
};

/** One image embedding and the model that made it (image_embeddings, by model and version). */
export type ModelEmbedding = { model: string; version: string; vector: Float32Array };

export type Inference = {
  /** Rounded to 4 decimals, as stored; null without an NSFW model. */
  nsfw: number | null;
  /** CLIP's embedding (`clip`'s), which the tagger read. */
  embedding: Float32Array | null;
  /** Every embedding to store: `clip`'s, then `previousClip`'s during a switch. */
  embeddings: ModelEmbedding[];
  tags: { tag: string; confidence: number }[];
  categories: { slug: string; confidence: number }[];
};

/** Times one ML step (the importer's stage clock, the live job's timings); by default untimed. */
export type TimeStep = <T>(step: "nsfw" | "clip", work: () => Promise<T>) => Promise<T>;
const untimed: TimeStep = (_step, work) => work();

/** One result per raster, in order. */
export async function inferBatch(models: InferenceModels, rasters: readonly RawImage[], time: TimeStep = untimed): Promise<Inference[]> {
  const results: Inference[] = rasters.map(() => ({ nsfw: null, embedding: null, embeddings: [], tags: [], categories: [] }));
  if (rasters.length === 0) return results;
  const { nsfw, clip, tagger, previousClip } = models;
  if (nsfw) {
    await time("nsfw", async () => {
      for (let start = 0; start < rasters.length; start += NSFW_RUN) {
        const scores = await nsfw.score(rasters.slice(start, start + NSFW_RUN));
        scores.forEach((score, i) => ((results[start + i] as Inference).nsfw = Math.round(score.nsfw * 10_000) / 10_000));
      }
    });
  }
  if (clip) {
    await time("clip", async () => {
      const embeddings = await clip.embedImages(rasters);
      embeddings.forEach((embedding, i) => {
        const result = results[i] as Inference;
        result.embedding = embedding;
        result.embeddings.push({ model: clip.modelId, version: clip.version, vector: embedding });
        if (tagger) Object.assign(result, tagger.tag(embedding));
      });
      if (previousClip) {
        const previous = await previousClip.embedImages(rasters);
        previous.forEach((vector, i) => (results[i] as Inference).embeddings.push({ model: previousClip.modelId, version: previousClip.version, vector }));
      }
    });
  }
  return results;
}
