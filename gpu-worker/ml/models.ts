import { EMBEDDING_DIMENSIONS } from "../../db/schema";
import { clipModelDirOf } from "../config";
import { type ClipModel, type ExecutionProviderName, loadClipModel } from "./clip";
import { type ClipUnavailable, ensureClipModel } from "./clip-models";
import { loadNsfwModel, type NsfwModel } from "./nsfw";
import { createTagger, type Tagger } from "./tagger";

/**
 * Loads the pipeline's models the one way the GPU worker (gpu-worker/main.ts) and the batch
 * migration (migrate/main.ts) both use: the NSFW classifier, then CLIP and its tagger. A missing
 * CLIP folder is first downloaded from the Hub (clip-models.ts). A model that cannot be had is logged
 * as a warning and left null: images then wait for review (no NSFW score) or go without embeddings
 * and AI tags (no CLIP, with the reason in `clipUnavailable`), as docs/clip.md describes.
 */

export type ModelSettings = {
  NSFW_MODEL_PATH: string;
  CLIP_MODEL: string;
  /** Empty: `.data/models/clip/<model>` (clipModelDirOf). */
  CLIP_MODEL_DIR: string;
  CLIP_MODEL_REVISION: string;
  HF_ENDPOINT: string;
  HF_TOKEN: string;
  HF_HUB_OFFLINE: boolean;
  CLIP_CACHE_DIR: string;
  CLIP_EXECUTION_PROVIDERS: ExecutionProviderName[];
  /** 0: onnxruntime's default (one per physical core). */
  ORT_INTRA_OP_THREADS: number;
};

export type LoadedModels = {
  nsfw: NsfwModel | null;
  clip: ClipModel | null;
  tagger: Tagger | null;
  /** Why `clip` is null (download refused, offline, a bad folder...), for the log and the heartbeat. */
  clipUnavailable: ClipUnavailable | null;
};

type Log = (level: "info" | "warn", msg: string, extra?: Record<string, unknown>) => void;

/** The NSFW classifier and CLIP (with its tagger), each null when it could not be loaded. */
export async function loadModels(settings: ModelSettings, batching: { maxBatch: number; maxWaitMs: number }, log: Log): Promise<LoadedModels> {
  const threads = settings.ORT_INTRA_OP_THREADS ? { intraOpNumThreads: settings.ORT_INTRA_OP_THREADS } : {};

  let nsfw: NsfwModel | null = null;
  try {
    nsfw = await loadNsfwModel(settings.NSFW_MODEL_PATH, threads);
    log("info", "NSFW classifier loaded", { model: nsfw.modelId, version: nsfw.version });
  } catch (error) {
    log("warn", "NSFW classifier unavailable: new images will wait for review", { error: (error as Error).message });
  }

  let clip: ClipModel | null = null;
  let tagger: Tagger | null = null;
  const clipDir = clipModelDirOf(settings);
  const missing = await ensureClipModel({ ...settings, clipModelDir: clipDir }, log);
  if (missing !== null) {
    log("warn", "no CLIP model: embeddings, AI tags and semantic search are unavailable (see docs/clip.md)", { model: settings.CLIP_MODEL, dir: clipDir, reason: missing.detail });
    return { nsfw, clip, tagger, clipUnavailable: missing };
  }
  try {
    clip = await loadClipModel(clipDir, {
      executionProviders: settings.CLIP_EXECUTION_PROVIDERS,
      ...threads,
      maxBatch: batching.maxBatch,
      maxWaitMs: batching.maxWaitMs,
      log: (msg: string, extra?: Record<string, unknown>) => log("info", msg, extra),
    });
    if (clip.embedDim !== EMBEDDING_DIMENSIONS) {
      const found = clip.embedDim;
      await clip.close();
      clip = null;
      throw new Error(`the model makes ${found}-dimensional embeddings; the images.embedding column holds ${EMBEDDING_DIMENSIONS}`);
    }
    log("info", "CLIP model loaded", { model: clip.modelId, version: clip.version, provider: clip.provider, dimensions: clip.embedDim });
    tagger = await createTagger(clip, { cacheDir: settings.CLIP_CACHE_DIR });
  } catch (error) {
    log("warn", "no CLIP model: embeddings, AI tags and semantic search are unavailable (see docs/clip.md)", {
      model: settings.CLIP_MODEL,
      dir: clipDir,
      error: (error as Error).message,
    });
    if (clip === null) return { nsfw, clip, tagger, clipUnavailable: { why: "the model folder does not load", detail: `${clipDir}: ${(error as Error).message}` } };
  }
  return { nsfw, clip, tagger, clipUnavailable: null };
}
