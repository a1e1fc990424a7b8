import type { RawImage } from "../gpu-worker/pipeline/index";
import type { LoadedModels } from "../gpu-worker/ml/models";
import type { StageClock } from "./stages";

/**
 * The ML steps for a whole batch at once, on the main thread: the NSFW classifier in runs of up to
 * NSFW_RUN images, one CLIP `embedImages` call (which runs batches of up to --batch images), then
 * the tagger per embedding. A missing model leaves its fields null (the moderation decision then
 * holds the image for review, as for live uploads).
 */

/**
 * The NSFW classifier runs on the CPU (gpu-worker/ml/nsfw.ts), where a larger batch is no faster
 * per image but costs memory: on the 2-core dev machine 8 images per run took 17-24 ms each and
 * 32 per run 31 ms each, while resident memory went from about 0.4 to 1 GB (MobileNetV2's
 * activations for every image of the run at once).
 */
export const NSFW_RUN = 8;

export type Inference = {
  /** Rounded to 4 decimals, as the live pipeline stores it; null without an NSFW model. */
  nsfw: number | null;
  embedding: Float32Array | null;
  tags: { tag: string; confidence: number }[];
  categories: { slug: string; confidence: number }[];
};

/** One result per raster, in order. */
export async function inferBatch(models: LoadedModels, rasters: RawImage[], clock: StageClock): Promise<Inference[]> {
  const results: Inference[] = rasters.map(() => ({ nsfw: null, embedding: null, tags: [], categories: [] }));
  if (rasters.length === 0) return results;
  const { nsfw, clip, tagger } = models;
  if (nsfw) {
    await clock.time("nsfw", async () => {
      for (let start = 0; start < rasters.length; start += NSFW_RUN) {
        const scores = await nsfw.score(rasters.slice(start, start + NSFW_RUN));
        scores.forEach((score, i) => ((results[start + i] as Inference).nsfw = Math.round(score.nsfw * 10_000) / 10_000));
      }
    });
  }
  if (clip) {
    await clock.time("clip", async () => {
      const embeddings = await clip.embedImages(rasters);
      embeddings.forEach((embedding, i) => {
        const result = results[i] as Inference;
        result.embedding = embedding;
        if (tagger) Object.assign(result, tagger.tag(embedding));
      });
    });
  }
  return results;
}
