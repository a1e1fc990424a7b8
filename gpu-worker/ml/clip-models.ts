import { stat } from "node:fs/promises";
import { HubError, type HubFile, progressReporter, pullRepoFolder } from "./hub-download";

/**
 * Which CLIP models the worker can fetch by name, and fetching one on first start.
 *
 * The names are Immich's (`immich_ml/models/constants.py`, `_OPENCLIP_MODELS`), each published as the
 * Hugging Face repository `immich-app/<name>` in the layout `clip.ts` reads. Listed here are the ones that
 * fit the `images.embedding` column: 512 dimensions (EMBEDDING_DIMENSIONS; Immich's `CLIP_MODEL_DIMENSIONS`
 * in its web settings gives each model's). Their text towers use CLIP's BPE (`clip-tokenizer.ts`) or, for
 * the two multilingual XLM-RoBERTa models, SentencePiece through tokenizers.js (`hub-tokenizer.ts`).
 * Left out until embeddings of other sizes can be stored: RN50 (1024), RN50x4 (640), RN50x16 (768), RN50x64
 * (1024), ViT-B-16-plus-240 and XLM-Roberta-Large-Vit-B-16Plus (640), the SigLIP/SigLIP2, NLLB and LaBSE
 * models (768+) and every ViT-L/H/g/SO400M (768+).
 */
export const CLIP_MODELS = {
  "ViT-B-32__openai": { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)" },
  "ViT-B-32__laion2b-s34b-b79k": { weights: "OpenCLIP, LAION-2B", licence: "MIT (mlfoundations/open_clip)" },
  "ViT-B-32__laion2b_e16": { weights: "OpenCLIP, LAION-2B", licence: "MIT (mlfoundations/open_clip)" },
  "ViT-B-32__laion400m_e31": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)" },
  "ViT-B-32__laion400m_e32": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)" },
  "ViT-B-16__openai": { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)" },
  "ViT-B-16__laion400m_e31": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)" },
  "ViT-B-16__laion400m_e32": { weights: "OpenCLIP, LAION-400M", licence: "MIT (mlfoundations/open_clip)" },
  RN101__openai: { weights: "OpenAI CLIP", licence: "MIT (openai/CLIP)" },
  RN101__yfcc15m: { weights: "OpenCLIP, YFCC-15M", licence: "MIT (mlfoundations/open_clip)" },
  "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k": { weights: "OpenCLIP, LAION-5B, multilingual (XLM-RoBERTa base)", licence: "MIT (mlfoundations/open_clip)" },
  "XLM-Roberta-Large-Vit-B-32": { weights: "M-CLIP (XLM-RoBERTa large) with OpenAI's ViT-B/32, multilingual", licence: "MIT (FreddeFrallan/Multilingual-CLIP)" },
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
