import { dirname, join } from "node:path";
import type { Database } from "../../db/connect";
import { activeModel, MAX_EMBEDDING_DIMENSIONS, registerModel, type SearchModel } from "../../db/embedding-models";
import type { EmbeddingModel } from "../../db/schema";
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
    if (clip.embedDim > MAX_EMBEDDING_DIMENSIONS) {
      const found = clip.embedDim;
      await clip.close();
      clip = null;
      throw new Error(`the model makes ${found}-dimensional embeddings; pgvector's HNSW indexes at most ${MAX_EMBEDDING_DIMENSIONS}`);
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

export type CatalogueModels = {
  /** The loaded model's row in embedding_models. */
  registered: EmbeddingModel;
  /** The model search reads (the loaded one, unless a switch is under way). */
  active: SearchModel | null;
  /**
   * During a switch, the model search still reads, loaded beside the new one so new images get its
   * embedding too and the embedding service answers its queries. Null when there is no switch, or
   * when its folder cannot be had (then new images wait for the switch to be found by meaning).
   */
  previous: ClipModel | null;
};

/**
 * Registers the loaded CLIP model with the catalogue (db/embedding-models.ts: its row and its index;
 * the first model becomes active) and, when another model still serves search, loads that one too
 * from its folder beside this one's (`<CLIP folder>/../<model>`, downloaded from the Hub when it is a
 * known model). Used by the worker and the bulk importer alike.
 */
export async function joinCatalogue(db: Database, settings: ModelSettings, clip: ClipModel, batching: { maxBatch: number; maxWaitMs: number }, log: Log): Promise<CatalogueModels> {
  const registered = await registerModel(db, { model: clip.modelId, version: clip.version, dimensions: clip.embedDim });
  const active = await activeModel(db);
  if (registered.state === "active" || !active) return { registered, active, previous: null };
  log("info", "a CLIP model switch is under way: search reads the previous model until this one covers the catalogue", {
    active: active.model,
    building: registered.model,
  });
  const dir = join(dirname(clipModelDirOf(settings)), active.model);
  const missing = await ensureClipModel({ ...settings, CLIP_MODEL: active.model, clipModelDir: dir }, log);
  let previous: ClipModel | null = null;
  try {
    if (missing !== null) throw new Error(missing.detail);
    previous = await loadClipModel(dir, {
      executionProviders: settings.CLIP_EXECUTION_PROVIDERS,
      ...(settings.ORT_INTRA_OP_THREADS ? { intraOpNumThreads: settings.ORT_INTRA_OP_THREADS } : {}),
      maxBatch: batching.maxBatch,
      maxWaitMs: batching.maxWaitMs,
    });
    if (previous.modelId !== active.model || previous.version !== active.version || previous.embedDim !== active.dimensions) {
      throw new Error(`${dir} holds ${previous.modelId} (${previous.version}, ${previous.embedDim} dimensions), not the active ${active.model} (${active.version})`);
    }
    log("info", "previous CLIP model loaded for the switch", { model: previous.modelId, version: previous.version });
    return { registered, active, previous };
  } catch (error) {
    await previous?.close();
    log("warn", "the model search reads cannot be loaded: new images get only the new model's embedding until the switch", {
      model: active.model,
      dir,
      error: (error as Error).message,
    });
    return { registered, active, previous: null };
  }
}
