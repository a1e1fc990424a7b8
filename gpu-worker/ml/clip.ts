import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import * as v from "valibot";
import { type RawImage, type ResizeKernel, resizeAndCrop } from "../imaging";
import { type BatcherStats, createBatcher, MAX_BATCH_LIMIT } from "./batcher";
import { type ClipTokenizer, DEFAULT_BPE_PATH, loadClipTokenizer, toBigInt64 } from "./clip-tokenizer";
import { isClipBpe, loadHubTokenizer } from "./hub-tokenizer";
import { createSession, describeValues, type ExecutionProviderName, type InferenceSession, Tensor, withProviderFallback } from "./onnx";

/**
 * CLIP adapter: the image and text encoders as two ONNX graphs run through onnxruntime (ml/onnx.ts), the image
 * preprocessing through gpu-worker/imaging.ts. The only module that knows CLIP's graphs; callers hand it the
 * pipeline's working raster or query strings and get L2-normalised Float32Array embeddings back.
 *
 * Two folder layouts are read:
 *   - Immich (immich-app/<model> on Hugging Face; immich_ml/models/clip): `config.json` (open_clip model
 *     config: `embed_dim`, `vision_cfg.image_size`, `text_cfg.context_length`), `visual/model.onnx`
 *     (`image` float32 [N,3,S,S] → `embedding`), `visual/preprocess_cfg.json` (`size`, `mean`, `std`,
 *     `interpolation`, `resize_mode`), `textual/model.onnx` (`text` int32 [N,77] → `embedding`),
 *     `textual/tokenizer.json`.
 *   - Hugging Face / transformers.js (Xenova/clip-*): `config.json` (CLIPConfig: `projection_dim`,
 *     `vision_config.image_size`, `text_config.max_position_embeddings`), `preprocessor_config.json`
 *     (CLIPImageProcessor), `tokenizer.json`, and `vision_model.onnx` (`pixel_values` → `image_embeds`)
 *     plus `text_model.onnx` (`input_ids` int64, optional `attention_mask` → `text_embeds`), in the
 *     folder itself or in its `onnx/` subfolder.
 *
 * Resizing differs slightly from the Python references, which use PIL's bicubic: sharp (libvips 8.18)
 * uses the same Catmull-Rom cubic (a = -0.5) widened by the scale factor (antialiased, as PIL is), but for
 * large reductions libvips box-shrinks by an integer factor first (its `gap` option, which sharp does not
 * expose) and its fixed-point taps round differently, so pixels may differ by a few levels; not measured
 * against PIL here. Geometry (the truncated long side, the floor-centred crop) follows Immich and
 * transformers exactly.
 */

/** One embedding per input, in order, each of unit L2 norm. */
export type Embedding = Float32Array;

export type ClipLayout = "immich" | "hf";
/** libvips kernels the configs' interpolation names map to. */
export type { ExecutionProviderName, ResizeKernel };

type Rgb = readonly [number, number, number];

/** How an image becomes the model's input. */
export interface ClipPreprocessConfig {
  /** Side of the square input (the centre crop). */
  size: number;
  /** Per-channel mean and standard deviation applied to `pixel / 255`. */
  mean: Rgb;
  std: Rgb;
  kernel: ResizeKernel;
  /** `shortest` (default): shortest side to `shortestEdge`, then centre crop; `squash`: straight to size×size. */
  resizeMode?: "shortest" | "squash";
  /** Target of the shortest side before cropping; defaults to `size`. */
  shortestEdge?: number;
}

export interface ClipModelOptions {
  /** Tried in order; the first with which both sessions load is used (default CUDA, then CPU). */
  executionProviders?: ExecutionProviderName[];
  /** onnxruntime intra-op threads; its default is one per physical core. */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /** Items per `session.run` and per dynamic batch, 1–64 (default 32). */
  maxBatch?: number;
  /** How long a single request waits for others to share its batch (default 5 ms). */
  maxWaitMs?: number;
  /** Called once after loading with the chosen execution provider (and why others were skipped). */
  log?: (message: string, details?: Record<string, unknown>) => void;
}

export interface ClipModel {
  /** The model folder's name, e.g. `ViT-B-32__openai`; stored with every embedding. */
  readonly modelId: string;
  /** sha256 prefix over both ONNX files and the tokenizer, plus the preprocessing: changes when any of them does. */
  readonly version: string;
  readonly layout: ClipLayout;
  readonly embedDim: number;
  readonly imageSize: number;
  readonly contextLength: number;
  readonly provider: ExecutionProviderName;
  readonly preprocess: ClipPreprocessConfig;
  /** Preprocesses all images, then embeds them in batches of at most `maxBatch` (shared with concurrent callers). */
  embedImages(images: readonly RawImage[]): Promise<Embedding[]>;
  /** One image through the dynamic batcher. */
  embedImage(image: RawImage): Promise<Embedding>;
  /** Texts through the dynamic batcher, so concurrent callers share `session.run` calls. */
  embedTexts(texts: readonly string[]): Promise<Embedding[]>;
  /** Batch counters of the two encoders. */
  stats(): { images: BatcherStats; texts: BatcherStats };
  /** Finishes queued work, then releases both sessions; embedding afterwards throws. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BATCH = 32;
const DEFAULT_MAX_WAIT_MS = 5;
const DEFAULT_CONTEXT_LENGTH = 77;
/** CLIPImageProcessor's defaults (transformers OPENAI_CLIP_MEAN / OPENAI_CLIP_STD). */
const OPENAI_MEAN: Rgb = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_STD: Rgb = [0.26862954, 0.26130258, 0.27577711];

// ---- folder layouts and their configs -------------------------------------------------------------

const Rgb = v.pipe(v.tuple([v.number(), v.number(), v.number()]), v.readonly());
const SquareSize = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(1)),
  v.pipe(
    v.tuple([v.number(), v.number()]),
    v.check(([h, w]) => h === w, "must be square"),
  ),
]);

const ImmichConfig = v.object({
  embed_dim: v.pipe(v.number(), v.integer(), v.minValue(1)),
  vision_cfg: v.optional(v.object({ image_size: v.optional(SquareSize) })),
  text_cfg: v.optional(
    v.object({
      context_length: v.optional(v.pipe(v.number(), v.integer(), v.minValue(2))),
      tokenizer_kwargs: v.optional(v.nullable(v.object({ clean: v.optional(v.nullable(v.string())) }))),
    }),
  ),
});
const ImmichPreprocess = v.object({
  size: SquareSize,
  mean: Rgb,
  std: Rgb,
  interpolation: v.optional(v.string(), "bicubic"),
  resize_mode: v.optional(v.string(), "shortest"),
});

const HfConfig = v.object({
  projection_dim: v.pipe(v.number(), v.integer(), v.minValue(1)),
  vision_config: v.optional(v.object({ image_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))) })),
  text_config: v.optional(v.object({ max_position_embeddings: v.optional(v.pipe(v.number(), v.integer(), v.minValue(2))) })),
});
const HfSide = v.union([v.pipe(v.number(), v.integer(), v.minValue(1)), v.object({ shortest_edge: v.number() }), v.object({ height: v.number(), width: v.number() })]);
const HfPreprocess = v.object({
  do_resize: v.optional(v.boolean(), true),
  size: v.optional(HfSide),
  resample: v.optional(v.number(), 3),
  do_center_crop: v.optional(v.boolean(), true),
  crop_size: v.optional(HfSide),
  do_rescale: v.optional(v.boolean(), true),
  rescale_factor: v.optional(v.number(), 1 / 255),
  do_normalize: v.optional(v.boolean(), true),
  image_mean: v.optional(Rgb, OPENAI_MEAN),
  image_std: v.optional(Rgb, OPENAI_STD),
});

/** PIL resampling names (Immich) and enum values (transformers) → sharp kernels; box and hamming have no sharp equivalent. */
const KERNEL_BY_NAME: Record<string, ResizeKernel> = { nearest: "nearest", bilinear: "linear", bicubic: "cubic", lanczos: "lanczos3" };
const KERNEL_BY_PIL_ENUM: Record<number, ResizeKernel> = { 0: "nearest", 1: "lanczos3", 2: "linear", 3: "cubic" };

/** Names each layout gives the graphs' inputs and outputs. */
const IO_NAMES = {
  immich: { image: "image", imageOut: "embedding", ids: "text", mask: undefined, textOut: "embedding" },
  hf: { image: "pixel_values", imageOut: "image_embeds", ids: "input_ids", mask: "attention_mask", textOut: "text_embeds" },
} as const;
/** Immich's M-CLIP exports (XLM-RoBERTa and LaBSE towers, `export/.../models/mclip.py`): ids and a mask, both int32. */
const IMMICH_MCLIP_TEXT = { ...IO_NAMES.immich, ids: "input_ids", mask: "attention_mask" } as const;
type IoNames = typeof IO_NAMES.immich | typeof IO_NAMES.hf | typeof IMMICH_MCLIP_TEXT;

/** The layout's names, or M-CLIP's when an Immich text graph takes `input_ids`. */
function ioNames(layout: ClipLayout, textual: InferenceSession): IoNames {
  return layout === "immich" && textual.inputNames.includes("input_ids") ? IMMICH_MCLIP_TEXT : IO_NAMES[layout];
}

interface ClipFolder {
  dir: string;
  layout: ClipLayout;
  visualPath: string;
  textualPath: string;
  tokenizerPath: string | undefined;
  /** Immich's `canonicalize` text clean-up (SigLIP configs). */
  canonicalize: boolean;
  embedDim: number;
  contextLength: number;
  preprocess: ClipPreprocessConfig;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function readJson<T extends v.GenericSchema>(path: string, schema: T): Promise<v.InferOutput<T>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (cause) {
    throw new Error(`cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const result = v.safeParse(schema, parsed);
  if (!result.success) {
    const issues = result.issues.map((issue) => `${v.getDotPath(issue) ?? "(root)"}: ${issue.message}`).join("; ");
    throw new Error(`${path} is not a valid CLIP config: ${issues}`);
  }
  return result.output;
}

const squareSide = (size: number | readonly [number, number]) => (typeof size === "number" ? size : size[0]);

/** Finds the layout and reads everything but the ONNX graphs; throws naming the folder and what it holds. */
async function readClipFolder(dir: string): Promise<ClipFolder> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "is not a folder" : `cannot be read (${(cause as Error).message})`;
    throw new Error(`CLIP model folder ${dir} ${why}`, { cause });
  }

  if (await exists(join(dir, "visual/model.onnx"))) {
    const missing = [];
    for (const file of ["config.json", "visual/preprocess_cfg.json", "textual/model.onnx"]) if (!(await exists(join(dir, file)))) missing.push(file);
    if (missing.length > 0) throw new Error(`${dir} looks like an Immich CLIP folder (visual/model.onnx) but lacks ${missing.join(", ")}`);
    const config = await readJson(join(dir, "config.json"), ImmichConfig);
    const pre = await readJson(join(dir, "visual/preprocess_cfg.json"), ImmichPreprocess);
    const kernel = KERNEL_BY_NAME[pre.interpolation.toLowerCase()];
    if (kernel === undefined) throw new Error(`${dir}/visual/preprocess_cfg.json: interpolation "${pre.interpolation}" is not supported (bicubic, bilinear, nearest, lanczos)`);
    if (pre.resize_mode !== "shortest" && pre.resize_mode !== "squash") {
      throw new Error(`${dir}/visual/preprocess_cfg.json: resize_mode "${pre.resize_mode}" is not supported (shortest, squash)`);
    }
    const size = squareSide(pre.size);
    const configSize = config.vision_cfg?.image_size;
    if (configSize !== undefined && squareSide(configSize) !== size) {
      throw new Error(`${dir}: config.json vision_cfg.image_size ${squareSide(configSize)} differs from preprocess_cfg.json size ${size}`);
    }
    const tokenizer = join(dir, "textual/tokenizer.json");
    return {
      dir,
      layout: "immich",
      visualPath: join(dir, "visual/model.onnx"),
      textualPath: join(dir, "textual/model.onnx"),
      tokenizerPath: (await exists(tokenizer)) ? tokenizer : undefined,
      canonicalize: config.text_cfg?.tokenizer_kwargs?.clean === "canonicalize",
      embedDim: config.embed_dim,
      contextLength: config.text_cfg?.context_length ?? DEFAULT_CONTEXT_LENGTH,
      preprocess: { size, mean: pre.mean, std: pre.std, kernel, resizeMode: pre.resize_mode },
    };
  }

  for (const onnxDir of [dir, join(dir, "onnx")]) {
    const visualPath = join(onnxDir, "vision_model.onnx");
    if (!(await exists(visualPath))) continue;
    const textualPath = join(onnxDir, "text_model.onnx");
    const missing = [];
    for (const path of [join(dir, "config.json"), textualPath]) if (!(await exists(path))) missing.push(path.slice(dir.length + 1));
    if (missing.length > 0) throw new Error(`${dir} looks like a Hugging Face CLIP folder (vision_model.onnx) but lacks ${missing.join(", ")}`);
    const config = await readJson(join(dir, "config.json"), HfConfig);
    const imageSize = config.vision_config?.image_size;
    const preprocessorPath = join(dir, "preprocessor_config.json");
    const pre = (await exists(preprocessorPath)) ? await readJson(preprocessorPath, HfPreprocess) : v.parse(HfPreprocess, {});
    const tokenizer = join(dir, "tokenizer.json");
    return {
      dir,
      layout: "hf",
      visualPath,
      textualPath,
      tokenizerPath: (await exists(tokenizer)) ? tokenizer : undefined,
      canonicalize: false,
      embedDim: config.projection_dim,
      contextLength: config.text_config?.max_position_embeddings ?? DEFAULT_CONTEXT_LENGTH,
      preprocess: hfPreprocess(pre, imageSize, preprocessorPath),
    };
  }

  throw new Error(
    `${dir} is not a CLIP model folder: expected the Immich layout (config.json, visual/model.onnx, visual/preprocess_cfg.json, ` +
      `textual/model.onnx) or the Hugging Face layout (config.json, vision_model.onnx, text_model.onnx, preprocessor_config.json); ` +
      `found ${entries.length > 0 ? entries.sort().join(", ") : "an empty folder"}`,
  );
}

/** CLIPImageProcessor semantics: resize (shortest edge, or exact height×width), centre crop, rescale, normalise. */
function hfPreprocess(pre: v.InferOutput<typeof HfPreprocess>, imageSize: number | undefined, path: string): ClipPreprocessConfig {
  const fail = (why: string) => new Error(`${path}: ${why}`);
  const kernel = KERNEL_BY_PIL_ENUM[pre.resample];
  if (kernel === undefined) throw fail(`resample ${pre.resample} is not supported (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic)`);
  if (!pre.do_rescale || Math.abs(pre.rescale_factor - 1 / 255) > 1e-9) throw fail("only do_rescale with rescale_factor 1/255 is supported");
  const mean = pre.do_normalize ? pre.image_mean : ([0, 0, 0] as const);
  const std = pre.do_normalize ? pre.image_std : ([1, 1, 1] as const);

  // An int or {shortest_edge} resizes the shortest side; {height, width} resizes to exactly that ("squash").
  const squash = typeof pre.size === "object" && "height" in pre.size;
  const side = (s: v.InferOutput<typeof HfSide> | undefined): number | undefined =>
    s === undefined ? imageSize : typeof s === "number" ? s : "shortest_edge" in s ? s.shortest_edge : s.height === s.width ? s.height : undefined;
  const resize = side(pre.size);
  const crop = pre.do_center_crop ? side(pre.crop_size) : resize;
  if (!pre.do_resize || resize === undefined) throw fail("the image must be resized to a square input (do_resize with a square size)");
  if (crop === undefined) throw fail("crop_size must be square");
  if (squash ? crop !== resize : !pre.do_center_crop || crop > resize) {
    throw fail(`resizing ${squash ? "to" : "the shortest edge to"} ${resize} then ${pre.do_center_crop ? `cropping to ${crop}` : "not cropping"} does not give a square input`);
  }
  if (imageSize !== undefined && crop !== imageSize) throw fail(`the input size ${crop} differs from config.json vision_config.image_size ${imageSize}`);
  return squash ? { size: crop, mean, std, kernel, resizeMode: "squash" } : { size: crop, mean, std, kernel, resizeMode: "shortest", shortestEdge: resize };
}

// ---- preprocessing --------------------------------------------------------------------------------

/**
 * Resizes, centre-crops and normalises one raster into the model's float32 CHW input (3 × size × size):
 * shortest side to `shortestEdge` (long side `trunc(edge · long / short)`, as torchvision and transformers
 * compute it), crop offset `floor((side − size) / 2)`, then `(pixel / 255 − mean) / std` per channel.
 *
 * @example
 * const chw = await preprocessImage(analysed.working, { size: 224, mean: OPENAI_MEAN, std: OPENAI_STD, kernel: "cubic" });
 * chw.length; // 3 * 224 * 224, red plane first
 */
export async function preprocessImage(image: RawImage, config: ClipPreprocessConfig): Promise<Float32Array> {
  const { width, height, data } = image;
  const { size } = config;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError(`image must have positive integer dimensions, got ${width}x${height}`);
  if (image.channels !== 3 || data.length !== width * height * 3) {
    throw new RangeError(`image must be ${width}x${height} RGB (${width * height * 3} bytes), got ${data.length} bytes with ${String(image.channels)} channels`);
  }
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);

  let resizedW = size;
  let resizedH = size;
  if ((config.resizeMode ?? "shortest") === "shortest") {
    const edge = config.shortestEdge ?? size;
    if (!Number.isInteger(edge) || edge < size) throw new RangeError(`shortestEdge must be an integer ≥ size ${size}, got ${edge}`);
    const short = Math.min(width, height);
    const long = Math.trunc((edge * Math.max(width, height)) / short);
    [resizedW, resizedH] = width <= height ? [edge, long] : [long, edge];
  }

  const pixels = await resizeAndCrop({ data, width, height, channels: 3 }, { width: resizedW, height: resizedH, kernel: config.kernel }, { width: size, height: size });

  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * (config.std[c] as number));
    const shift = (config.mean[c] as number) / (config.std[c] as number);
    const base = c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = (pixels[i * 3 + c] as number) * scale - shift;
  }
  return out;
}

// ---- sessions -------------------------------------------------------------------------------------

type TensorMeta = InferenceSession.TensorValueMetadata;

function tensorMeta(metas: readonly InferenceSession.ValueMetadata[], name: string): TensorMeta | undefined {
  const meta = metas.find((m) => m.name === name);
  return meta?.isTensor ? meta : undefined;
}

/** A dim matches when it is symbolic (dynamic) or equals the expected number. */
const dimMatches = (dim: number | string | undefined, expected: number) => typeof dim === "string" || dim === expected || dim === -1;

/** Largest batch a graph accepts per run: 1 when its batch dim is fixed at 1, else 64. */
function batchLimit(meta: TensorMeta, path: string): number {
  const dim = meta.shape[0];
  if (typeof dim === "number" && dim > 0) {
    if (dim === 1) return 1;
    throw new ContractError(`${path}: input "${meta.name}" has a fixed batch of ${dim}; only dynamic or 1 is supported`);
  }
  return MAX_BATCH_LIMIT;
}

interface Graphs {
  visual: InferenceSession;
  textual: InferenceSession;
  idsType: "int32" | "int64";
  maskType: "int32" | "int64" | undefined;
  runLimit: number;
}

/** Thrown when the graphs load but break the contract: trying another provider would not help. */
class ContractError extends Error {}

/** Checks both graphs against the layout's contract and the configs; returns what running them needs. */
function checkGraphs(folder: ClipFolder, visual: InferenceSession, textual: InferenceSession): Omit<Graphs, "visual" | "textual"> {
  const names = ioNames(folder.layout, textual);
  const { size } = folder.preprocess;
  const found = (s: InferenceSession) => `found inputs ${describeValues(s.inputMetadata)}, outputs ${describeValues(s.outputMetadata)}`;

  const image = tensorMeta(visual.inputMetadata, names.image);
  const imageOut = tensorMeta(visual.outputMetadata, names.imageOut);
  const imageOk =
    visual.inputMetadata.length === 1 &&
    image?.type === "float32" &&
    image.shape.length === 4 &&
    dimMatches(image.shape[1], 3) &&
    dimMatches(image.shape[2], size) &&
    dimMatches(image.shape[3], size) &&
    imageOut?.type === "float32" &&
    imageOut.shape.length === 2 &&
    dimMatches(imageOut.shape[1], folder.embedDim);
  if (!imageOk || image === undefined) {
    throw new ContractError(
      `${folder.visualPath} is not a CLIP image encoder for this config: expected input "${names.image}" float32 [batch,3,${size},${size}] ` +
        `and output "${names.imageOut}" float32 [batch,${folder.embedDim}]; ${found(visual)}`,
    );
  }

  const ids = tensorMeta(textual.inputMetadata, names.ids);
  const mask = names.mask === undefined ? undefined : tensorMeta(textual.inputMetadata, names.mask);
  const textOut = tensorMeta(textual.outputMetadata, names.textOut);
  const isIndex = (t: string | undefined): t is "int32" | "int64" => t === "int32" || t === "int64";
  const textOk =
    textual.inputMetadata.length === (mask === undefined ? 1 : 2) &&
    isIndex(ids?.type) &&
    ids?.shape.length === 2 &&
    dimMatches(ids.shape[1], folder.contextLength) &&
    (mask === undefined || (isIndex(mask.type) && mask.shape.length === 2)) &&
    textOut?.type === "float32" &&
    textOut.shape.length === 2 &&
    dimMatches(textOut.shape[1], folder.embedDim);
  if (!textOk || ids === undefined || !isIndex(ids.type)) {
    const maskNote = names.mask === undefined ? "" : ` (and optionally "${names.mask}")`;
    throw new ContractError(
      `${folder.textualPath} is not a CLIP text encoder for this config: expected input "${names.ids}" int32/int64 [batch,${folder.contextLength}]${maskNote} ` +
        `and output "${names.textOut}" float32 [batch,${folder.embedDim}]; ${found(textual)}`,
    );
  }
  const maskType = mask !== undefined && isIndex(mask.type) ? mask.type : undefined;
  const runLimit = Math.min(batchLimit(image, folder.visualPath), batchLimit(ids, folder.textualPath));
  return { idsType: ids.type, maskType, runLimit };
}

async function createSessions(folder: ClipFolder, provider: ExecutionProviderName, options: ClipModelOptions): Promise<Graphs> {
  const settings = { optimise: true, intraOpNumThreads: options.intraOpNumThreads, interOpNumThreads: options.interOpNumThreads };
  const visual = await createSession(folder.visualPath, provider, settings);
  let textual: InferenceSession;
  try {
    textual = await createSession(folder.textualPath, provider, settings);
  } catch (error) {
    await visual.release();
    throw error;
  }
  try {
    return { visual, textual, ...checkGraphs(folder, visual, textual) };
  } catch (error) {
    await Promise.all([visual.release(), textual.release()]);
    throw error;
  }
}

/** Tries each provider in order; both sessions share the first that loads. */
async function openSessions(folder: ClipFolder, options: ClipModelOptions): Promise<{ graphs: Graphs; provider: ExecutionProviderName; skipped: Record<string, string> }> {
  const {
    value: graphs,
    provider,
    skipped,
  } = await withProviderFallback(options.executionProviders ?? ["cuda", "cpu"], (p) => createSessions(folder, p, options), {
    what: `the CLIP model in ${folder.dir}`,
    isFinal: (error) => error instanceof ContractError,
  });
  return { graphs, provider, skipped };
}

/** CLIP's own BPE (`clip-tokenizer.ts`, also without a tokenizer.json), any other `tokenizer.json` through tokenizers.js. */
async function loadTextTokenizer(folder: ClipFolder): Promise<ClipTokenizer> {
  if (folder.tokenizerPath === undefined) return loadClipTokenizer({ bpeGz: DEFAULT_BPE_PATH });
  if (isClipBpe(JSON.parse(await readFile(folder.tokenizerPath, "utf8")))) return loadClipTokenizer({ tokenizerJson: folder.tokenizerPath });
  return loadHubTokenizer(folder.tokenizerPath, { canonicalize: folder.canonicalize });
}

/** sha256 over the files' bytes, streamed (the encoders are hundreds of MB). */
async function hashFiles(paths: readonly string[]): Promise<string> {
  const hash = createHash("sha256");
  for (const path of paths) {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

function l2Rows(data: Float32Array, rows: number, dim: number): Embedding[] {
  const out: Embedding[] = [];
  for (let r = 0; r < rows; r++) {
    const row = data.slice(r * dim, (r + 1) * dim);
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += (row[i] as number) ** 2;
    const norm = Math.sqrt(sum);
    if (norm > 0) for (let i = 0; i < dim; i++) row[i] = (row[i] as number) / norm;
    out.push(row);
  }
  return out;
}

/**
 * Loads a CLIP model folder (Immich or Hugging Face layout), checks both graphs against the configs, and
 * returns encoders that batch concurrent requests. A missing or malformed folder throws an error naming the
 * folder and what was found; the worker then runs without semantic features.
 *
 * @example
 * const clip = await loadClipModel(".data/models/clip/ViT-B-32__openai", { log: (m) => console.info(m) });
 * const [query] = await clip.embedTexts(["a red bicycle against a brick wall"]);
 * const image = await clip.embedImage(analysed.working);
 */
export async function loadClipModel(dir: string, options: ClipModelOptions = {}): Promise<ClipModel> {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_BATCH_LIMIT) throw new RangeError(`maxBatch must be an integer from 1 to ${MAX_BATCH_LIMIT}, got ${maxBatch}`);
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new RangeError(`maxWaitMs must be ≥ 0, got ${maxWaitMs}`);

  const folder = await readClipFolder(resolve(dir));
  const tokenizer = await loadTextTokenizer(folder);
  const { graphs, provider, skipped } = await openSessions(folder, options);
  const { visual, textual } = graphs;

  const modelId = basename(folder.dir);
  const pre = folder.preprocess;
  const contentHash = await hashFiles([folder.visualPath, folder.textualPath, folder.tokenizerPath ?? DEFAULT_BPE_PATH]);
  const preprocessTag = `${pre.resizeMode ?? "shortest"}${pre.shortestEdge !== undefined && pre.shortestEdge !== pre.size ? `${pre.shortestEdge}` : ""}-${pre.kernel}-${pre.size}`;
  const version = `onnx-sha256:${contentHash.slice(0, 12)}+${preprocessTag}`;
  const { embedDim, contextLength } = folder;
  const batchSize = Math.min(maxBatch, graphs.runLimit);
  const names = ioNames(folder.layout, textual);

  const readEmbeddings = (result: InferenceSession.ReturnType, name: string, rows: number): Embedding[] => {
    const output = result[name];
    if (output === undefined || !(output.data instanceof Float32Array) || output.data.length !== rows * embedDim) {
      throw new Error(`${modelId}: output "${name}" for a batch of ${rows} is not float32 [${rows},${embedDim}] (dims ${output?.dims.join(",") ?? "missing"})`);
    }
    return l2Rows(output.data, rows, embedDim);
  };

  const images = createBatcher<Float32Array, Embedding>({
    maxBatch: batchSize,
    maxWaitMs,
    async run(inputs) {
      const plane = 3 * pre.size * pre.size;
      const batch = new Float32Array(inputs.length * plane);
      inputs.forEach((input, i) => batch.set(input, i * plane));
      const result = await visual.run({ [names.image]: new Tensor("float32", batch, [inputs.length, 3, pre.size, pre.size]) }, [names.imageOut]);
      return readEmbeddings(result, names.imageOut, inputs.length);
    },
  });

  const texts = createBatcher<string, Embedding>({
    maxBatch: batchSize,
    maxWaitMs,
    async run(inputs) {
      const { ids, attentionMask } = tokenizer.tokenize(inputs, contextLength);
      const shape = [inputs.length, contextLength];
      const asTensor = (values: Int32Array, type: "int32" | "int64") => (type === "int64" ? new Tensor("int64", toBigInt64(values), shape) : new Tensor("int32", values, shape));
      const feeds: Record<string, Tensor> = { [names.ids]: asTensor(ids, graphs.idsType) };
      if (names.mask !== undefined && graphs.maskType !== undefined) feeds[names.mask] = asTensor(attentionMask, graphs.maskType);
      const result = await textual.run(feeds, [names.textOut]);
      return readEmbeddings(result, names.textOut, inputs.length);
    },
  });

  let closed = false;
  const assertOpen = () => {
    if (closed) throw new Error(`CLIP ${modelId}: used after close()`);
  };

  options.log?.(`CLIP ${modelId}: using the ${provider} execution provider`, {
    model: modelId,
    layout: folder.layout,
    provider,
    ...(Object.keys(skipped).length > 0 ? { skipped } : {}),
  });

  return {
    modelId,
    version,
    layout: folder.layout,
    embedDim,
    imageSize: pre.size,
    contextLength,
    provider,
    preprocess: pre,
    async embedImages(rasters) {
      assertOpen();
      if (rasters.length === 0) return [];
      const inputs = await Promise.all(rasters.map((raster) => preprocessImage(raster, pre)));
      return images.submitMany(inputs);
    },
    async embedImage(raster) {
      assertOpen();
      return images.submit(await preprocessImage(raster, pre));
    },
    async embedTexts(queries) {
      assertOpen();
      return texts.submitMany(queries);
    },
    stats: () => ({ images: images.stats(), texts: texts.stats() }),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([images.close(), texts.close()]);
      await Promise.all([visual.release(), textual.release()]);
    },
  };
}
