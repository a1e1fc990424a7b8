import { stat } from "node:fs/promises";
import { HubError, type HubFile, progressReporter, pullRepoFolder } from "./hub-download";

/**
 * Which CLIP models the worker can fetch by name, and fetching one on first start.
 *
 * The names are Immich's (`immich_ml/models/constants.py`: `_OPENCLIP_MODELS` and `_MCLIP_MODELS`), each
 * published as the Hugging Face repository `immich-app/<name>` in the layout `clip.ts` reads, with the
 * width of its embeddings (Immich's `CLIP_MODEL_DIMENSIONS`). Every width up to pgvector's HNSW limit
 * (2,000) has its own index (db/embedding-models.ts), so all of them fit. Text towers: CLIP's BPE
 * (`clip-tokenizer.ts`) or, for XLM-RoBERTa, SigLIP, SigLIP 2 (Gemma), NLLB and LaBSE, their
 * `tokenizer.json` through tokenizers.js (`hub-tokenizer.ts`). Only the 512-wide ones have been checked
 * against their published files here (docs/clip.md); the others are listed as Immich names them.
 */
export const CLIP_MODELS = {
  "ViT-B-32__openai": { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 512 },
  "ViT-B-32__laion2b-s34b-b79k": { weights: "OpenCLIP, LAION-2B", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  "ViT-B-32__laion2b_e16": { weights: "OpenCLIP, LAION-2B", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  "ViT-B-32__laion400m_e31": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  "ViT-B-32__laion400m_e32": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  "ViT-B-16__openai": { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 512 },
  "ViT-B-16__laion400m_e31": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  "ViT-B-16__laion400m_e32": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  RN101__openai: { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 512 },
  RN101__yfcc15m: { weights: "OpenCLIP, YFCC-15M", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k": { weights: "OpenCLIP, LAION-5B, multilingual (XLM-RoBERTa base)", licence: "MIT (mlfoundations/open_clip)", dimensions: 512 },
  "XLM-Roberta-Large-Vit-B-32": { weights: "M-CLIP (XLM-RoBERTa large) with OpenAI's ViT-B/32, multilingual", licence: "MIT (FreddeFrallan/Multilingual-CLIP)", dimensions: 512 },
  RN50x4__openai: { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 640 },
  "ViT-B-16-plus-240__laion400m_e31": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 640 },
  "ViT-B-16-plus-240__laion400m_e32": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 640 },
  "XLM-Roberta-Large-Vit-B-16Plus": { weights: "M-CLIP (XLM-RoBERTa large) with ViT-B/16+, multilingual", licence: "MIT (FreddeFrallan/Multilingual-CLIP)", dimensions: 640 },
  RN50x16__openai: { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 768 },
  "ViT-L-14__openai": { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 768 },
  "ViT-L-14-336__openai": { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 768 },
  "ViT-L-14__laion2b-s32b-b82k": { weights: "OpenCLIP, LAION-2B", licence: "MIT (mlfoundations/open_clip)", dimensions: 768 },
  "ViT-L-14__laion400m_e31": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 768 },
  "ViT-L-14__laion400m_e32": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)", dimensions: 768 },
  "ViT-L-14-quickgelu__dfn2b": { weights: "Apple DFN-2B", licence: "Apple's model licence (apple/DFN* model cards): read it before use", dimensions: 768 },
  "ViT-B-16-SigLIP__webli": { weights: "SigLIP, WebLI", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 768 },
  "ViT-B-16-SigLIP-256__webli": { weights: "SigLIP, WebLI", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 768 },
  "ViT-B-16-SigLIP-384__webli": { weights: "SigLIP, WebLI", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 768 },
  "ViT-B-16-SigLIP-512__webli": { weights: "SigLIP, WebLI", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 768 },
  "ViT-B-16-SigLIP-i18n-256__webli": { weights: "SigLIP, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 768 },
  "ViT-B-16-SigLIP2__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 768 },
  "ViT-B-32-SigLIP2-256__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 768 },
  "XLM-Roberta-Large-Vit-L-14": { weights: "M-CLIP (XLM-RoBERTa large) with OpenAI's ViT-L/14, multilingual", licence: "MIT (FreddeFrallan/Multilingual-CLIP)", dimensions: 768 },
  "LABSE-Vit-L-14": { weights: "M-CLIP (LaBSE) with OpenAI's ViT-L/14, multilingual", licence: "MIT (FreddeFrallan/Multilingual-CLIP)", dimensions: 768 },
  "nllb-clip-base-siglip__v1": { weights: "NLLB-CLIP with SigLIP, multilingual", licence: "CC-BY-NC-4.0 (NLLB): non-commercial, not for a marketplace", dimensions: 768 },
  "nllb-clip-base-siglip__mrl": { weights: "NLLB-CLIP with SigLIP, multilingual", licence: "CC-BY-NC-4.0 (NLLB): non-commercial, not for a marketplace", dimensions: 768 },
  RN50__openai: { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 1024 },
  RN50__yfcc15m: { weights: "OpenCLIP, YFCC-15M", licence: "MIT (mlfoundations/open_clip)", dimensions: 1024 },
  RN50__cc12m: { weights: "OpenCLIP, CC-12M", licence: "MIT (mlfoundations/open_clip)", dimensions: 1024 },
  RN50x64__openai: { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)", dimensions: 1024 },
  "ViT-H-14__laion2b-s32b-b79k": { weights: "OpenCLIP, LAION-2B", licence: "MIT (mlfoundations/open_clip)", dimensions: 1024 },
  "ViT-H-14-quickgelu__dfn5b": { weights: "Apple DFN-5B", licence: "Apple's model licence (apple/DFN* model cards): read it before use", dimensions: 1024 },
  "ViT-H-14-378-quickgelu__dfn5b": { weights: "Apple DFN-5B", licence: "Apple's model licence (apple/DFN* model cards): read it before use", dimensions: 1024 },
  "ViT-g-14__laion2b-s12b-b42k": { weights: "OpenCLIP, LAION-2B", licence: "MIT (mlfoundations/open_clip)", dimensions: 1024 },
  "ViT-L-16-SigLIP-256__webli": { weights: "SigLIP, WebLI", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1024 },
  "ViT-L-16-SigLIP-384__webli": { weights: "SigLIP, WebLI", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1024 },
  "ViT-L-16-SigLIP2-256__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1024 },
  "ViT-L-16-SigLIP2-384__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1024 },
  "ViT-L-16-SigLIP2-512__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1024 },
  "XLM-Roberta-Large-ViT-H-14__frozen_laion5b_s13b_b90k": {
    weights: "OpenCLIP, LAION-5B, multilingual (XLM-RoBERTa large)",
    licence: "MIT (mlfoundations/open_clip)",
    dimensions: 1024,
  },
  "ViT-SO400M-14-SigLIP-384__webli": { weights: "SigLIP, WebLI", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1152 },
  "ViT-SO400M-14-SigLIP2__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1152 },
  "ViT-SO400M-14-SigLIP2-378__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1152 },
  "ViT-SO400M-16-SigLIP2-256__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1152 },
  "ViT-SO400M-16-SigLIP2-384__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1152 },
  "ViT-SO400M-16-SigLIP2-512__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1152 },
  "nllb-clip-large-siglip__v1": { weights: "NLLB-CLIP with SigLIP, multilingual", licence: "CC-BY-NC-4.0 (NLLB): non-commercial, not for a marketplace", dimensions: 1152 },
  "nllb-clip-large-siglip__mrl": { weights: "NLLB-CLIP with SigLIP, multilingual", licence: "CC-BY-NC-4.0 (NLLB): non-commercial, not for a marketplace", dimensions: 1152 },
  "ViT-gopt-16-SigLIP2-256__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1536 },
  "ViT-gopt-16-SigLIP2-384__webli": { weights: "SigLIP 2, WebLI, multilingual", licence: "Apache-2.0 (google-research/big_vision)", dimensions: 1536 },
} as const;

export type ClipModelName = keyof typeof CLIP_MODELS;
export const DEFAULT_CLIP_MODEL: ClipModelName = "ViT-B-32__openai";

/** A listed Immich name, or any `owner/repo` on the Hub in a layout `clip.ts` reads (e.g. `Xenova/clip-vit-base-patch32`). */
export function isClipModelName(name: string): boolean {
  return Object.hasOwn(CLIP_MODELS, name) || /^[\w.-]+\/[\w.-]+$/.test(name);
}

/** The Hub repository a model name comes from: Immich's organisation unless the name has its own owner. */
export function clipRepoOf(name: string): string {
  return name.includes("/") ? name : `immich-app/${name}`;
}

/** The folder name (and so the model id stored with every embedding) for a model name. */
export function clipFolderNameOf(name: string): string {
  return name.split("/").pop() as string;
}

const IMMICH_FILES = {
  required: ["config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx"],
  // tokenizer_config.json names the pad token, which XLM-RoBERTa towers read (id 1, not 0).
  optional: ["textual/tokenizer.json", "textual/tokenizer_config.json"],
};
const hfFiles = (onnx: string) => ({
  required: ["config.json", `${onnx}vision_model.onnx`, `${onnx}text_model.onnx`],
  optional: ["preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"],
});

/**
 * The files `clip.ts` reads, out of a repository's listing: Immich's fp32 ONNX pair with its configs and
 * tokenizer, or the Hugging Face/transformers.js pair (root or `onnx/`). Everything else (fp16/, *.armnn,
 * rknpu/, quantised variants, vocab.json and merges.txt that tokenizer.json already holds) stays on the Hub.
 */
export function selectClipFiles(files: HubFile[]): HubFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const layout = byPath.has("visual/model.onnx") ? IMMICH_FILES : byPath.has("onnx/vision_model.onnx") ? hfFiles("onnx/") : byPath.has("vision_model.onnx") ? hfFiles("") : null;
  if (layout === null) {
    throw new HubError(
      "unusable",
      `the repository holds no CLIP ONNX export this loader reads (visual/model.onnx, or vision_model.onnx at the root or in onnx/); it has ${files.length} files`,
    );
  }
  const missing = layout.required.filter((p) => !byPath.has(p));
  if (missing.length > 0) throw new HubError("unusable", `the repository lacks ${missing.join(", ")}`);
  return [...layout.required, ...layout.optional].flatMap((p) => byPath.get(p) ?? []);
}

export interface ClipSourceSettings {
  CLIP_MODEL: string;
  /** The model folder; created by the download when missing. */
  clipModelDir: string;
  CLIP_MODEL_REVISION: string;
  HF_ENDPOINT: string;
  HF_TOKEN: string;
  HF_HUB_OFFLINE: boolean;
}

type Log = (level: "info" | "warn", msg: string, extra?: Record<string, unknown>) => void;

/** Why there is no CLIP model: `why` is a short phrase fit for the public health check, `detail` the full story for logs and the heartbeat row. */
export interface ClipUnavailable {
  why: string;
  detail: string;
}

const WHY: Record<HubError["kind"], string> = {
  unauthorized: "the Hub refused the download (check HF_TOKEN)",
  "not-found": "the model is not on the Hub",
  offline: "the Hub is unreachable",
  refused: "the Hub refused the download",
  corrupt: "the download failed verification",
  unusable: "the repository holds no CLIP export this worker reads",
};

/**
 * Makes sure the CLIP folder exists, downloading it from the Hub when it does not. Returns null when the
 * folder is there, or why it is not. Never throws: the worker runs on without CLIP.
 */
export async function ensureClipModel(
  settings: ClipSourceSettings,
  log: Log,
  overrides: { stallTimeoutMs?: number; retryDelayMs?: number; attempts?: number } = {},
): Promise<ClipUnavailable | null> {
  const dir = settings.clipModelDir;
  if (
    await stat(dir).then(
      () => true,
      () => false,
    )
  )
    return null;
  const repo = clipRepoOf(settings.CLIP_MODEL);
  if (settings.HF_HUB_OFFLINE) {
    return {
      why: "the model is not installed and HF_HUB_OFFLINE is set",
      detail: `${dir} is missing and HF_HUB_OFFLINE is set, so ${repo} was not downloaded (run npm run models:pull where the Hub is reachable)`,
    };
  }
  const bar = progressReporter(settings.CLIP_MODEL, { log: (msg, extra) => log("info", msg, extra) });
  try {
    await pullRepoFolder({
      endpoint: settings.HF_ENDPOINT,
      token: settings.HF_TOKEN || undefined,
      revision: settings.CLIP_MODEL_REVISION,
      repo,
      dir,
      select: selectClipFiles,
      log,
      progress: bar.progress,
      ...overrides,
    });
    return null;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const why = error instanceof HubError ? WHY[error.kind] : "the download failed";
    return { why, detail: `${repo} from ${settings.HF_ENDPOINT}: ${why}: ${message}` };
  } finally {
    bar.done();
  }
}
