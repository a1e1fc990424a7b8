import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSession, describeValues, type ExecutionProviderName, type InferenceSession, Tensor, withProviderFallback } from "./onnx";

/**
 * NSFW classifier adapter: the nsfwjs MobileNetV2 weights as ONNX (models/nsfw-mobilenet-v2/README.md),
 * run through onnxruntime (ml/onnx.ts opens its session). The only module that knows this model; the pipeline
 * hands it raw RGB rasters it already decoded and gets plain numbers back.
 *
 * Which raster to pass: nsfwjs resizes the full decoded image, and the scores follow that. Pre-downscaling
 * with sharp (lanczos3, 450 px long edge, no enlargement) before the align-corners resize moved the largest
 * class score by 0.295 on the reference input (Drawing 0.685 → 0.390) and by up to 0.10 on the scikit-image
 * samples, and lowered `nsfw` by 10–30 % relative (motorcycle 0.065 → 0.049, chelsea 0.068 → 0.056).
 * The resize reads only 224×224×4 source pixels, so a full raster costs memory, not time (0.3–0.45 ms
 * from 953×382 or 6000×4000).
 */

/** Stored with every score so a model change can re-score selectively. */
export const MODEL_ID = "nsfwjs-mobilenet-v2";
/** First 12 hex digits of the model file's sha256; {@link loadNsfwModel} refuses a file without it. */
export const MODEL_SHA256_PREFIX = "5ffbc8e2ae1e";
/** The shipped model.onnx's sha256 prefix plus the preprocessing this module applies. */
export const MODEL_VERSION = `onnx-sha256:${MODEL_SHA256_PREFIX}+align-corners-224`;

/** Side of the square the model sees. */
export const NSFW_INPUT_SIZE = 224;

/** Default moderation threshold on `NsfwScores.nsfw`: an image at or above it goes to human review. */
export const DEFAULT_NSFW_THRESHOLD = 0.1;

/** Class order of the model's `probs` output. */
const CLASSES = ["drawing", "hentai", "neutral", "porn", "sexy"] as const;
const INPUT_NAME = "input";
const OUTPUT_NAME = "probs";

/** A decoded raster, row-major, interleaved, 8 bits per channel; with 4 channels the 4th (alpha) is ignored. */
export interface NsfwInput {
  data: Buffer | Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** Softmax probabilities per class, plus `nsfw`. */
export interface NsfwScores {
  drawing: number;
  hentai: number;
  neutral: number;
  porn: number;
  sexy: number;
  /**
   * `porn + hentai + sexy`: the single number moderation compares with its threshold
   * (default {@link DEFAULT_NSFW_THRESHOLD}).
   */
  nsfw: number;
}

export interface NsfwModel {
  readonly modelId: typeof MODEL_ID;
  readonly version: typeof MODEL_VERSION;
  /** Scores all images in one `session.run`; results are in input order. The caller picks the batch size. */
  score(images: readonly NsfwInput[]): Promise<NsfwScores[]>;
  /** Releases the native session; `score` throws afterwards. */
  close(): Promise<void>;
}

export interface NsfwModelOptions {
  /** onnxruntime intra-op threads; its default is one per physical core. */
  intraOpNumThreads?: number;
  /** Tried in order, e.g. `["cuda", "cpu"]`; CPU alone by default (the model is small). */
  executionProviders?: ExecutionProviderName[];
}

/**
 * Loads the NSFW model and checks that the file has this model's contract
 * (`input` float32 [batch,224,224,3] → `probs` float32 [batch,5]) and this model's weights (its sha256
 * starts with {@link MODEL_SHA256_PREFIX}, so the {@link MODEL_VERSION} stored with each score is true).
 *
 * @example
 * const model = await loadNsfwModel("models/nsfw-mobilenet-v2/model.onnx");
 * const [scores] = await model.score([{ data, width, height, channels: 3 }]);
 * if (scores.nsfw >= DEFAULT_NSFW_THRESHOLD) flagForReview();
 */
export async function loadNsfwModel(modelPath: string, options: NsfwModelOptions = {}): Promise<NsfwModel> {
  // Read once: the same bytes are hashed and handed to onnxruntime (hashing 10.5 MB costs about 30 ms).
  let bytes: Buffer;
  let session: InferenceSession;
  try {
    const read = await readFile(modelPath);
    bytes = read;
    const providers = options.executionProviders ?? ["cpu"];
    session = (await withProviderFallback(providers, (provider) => createSession(read, provider, { intraOpNumThreads: options.intraOpNumThreads }), { what: "the session" })).value;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`Cannot load NSFW model from ${modelPath}: ${reason}`, { cause });
  }

  const mismatch = describeContractMismatch(session);
  if (mismatch !== undefined) {
    await session.release();
    throw new Error(
      `${modelPath} is not the ${MODEL_ID} model: expected input "${INPUT_NAME}" float32 [batch,224,224,3] ` + `and output "${OUTPUT_NAME}" float32 [batch,5]; ${mismatch}`,
    );
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (!sha256.startsWith(MODEL_SHA256_PREFIX)) {
    await session.release();
    throw new Error(
      `${modelPath} has the ${MODEL_ID} inputs and outputs but other weights (sha256 ${sha256.slice(0, 12)}..., ` +
        `this code is calibrated for ${MODEL_SHA256_PREFIX}...; see models/nsfw-mobilenet-v2/README.md)`,
    );
  }

  let released = false;
  return {
    modelId: MODEL_ID,
    version: MODEL_VERSION,
    async score(images) {
      if (released) throw new Error(`${MODEL_ID}: score() called after close()`);
      if (images.length === 0) return [];

      const pixelsPerImage = NSFW_INPUT_SIZE * NSFW_INPUT_SIZE * 3;
      const batch = new Float32Array(images.length * pixelsPerImage);
      images.forEach((image, index) => {
        assertRaster(image, index);
        resizeInto(batch, index * pixelsPerImage, image.data, image.width, image.height, image.channels, NSFW_INPUT_SIZE, NSFW_INPUT_SIZE);
      });

      const input = new Tensor("float32", batch, [images.length, NSFW_INPUT_SIZE, NSFW_INPUT_SIZE, 3]);
      const output = (await session.run({ [INPUT_NAME]: input }))[OUTPUT_NAME];
      if (output === undefined || !(output.data instanceof Float32Array) || output.data.length !== images.length * CLASSES.length) {
        throw new Error(`${MODEL_ID}: unexpected output for a batch of ${images.length}`);
      }
      return toScores(output.data, images.length);
    },
    async close() {
      if (released) return;
      released = true;
      await session.release();
    },
  };
}

/**
 * Bilinear resize with align-corners sampling (`src = dst * (inSize - 1) / (outSize - 1)`), the way nsfwjs
 * calls `tf.image.resizeBilinear(img, [224, 224], true)`. The model was trained and calibrated against this
 * sampling; other kernels (sharp's lanczos, half-pixel bilinear) move scores a lot on small or odd-shaped
 * images. Output is RGB only (alpha dropped), interleaved, as `pixel / 255`.
 *
 * @example
 * // 3x2 RGB → 5x4: output corners equal input corners exactly
 * const rgb = resizeBilinearAlignCorners(raw, 3, 2, 3, 5, 4); // length 5 * 4 * 3
 */
export function resizeBilinearAlignCorners(src: Uint8Array, srcW: number, srcH: number, channels: 3 | 4, dstW: number, dstH: number): Float32Array {
  assertRaster({ data: src, width: srcW, height: srcH, channels }, 0);
  if (!isPositiveInteger(dstW) || !isPositiveInteger(dstH)) {
    throw new RangeError(`resize target must be positive integers, got ${dstW}x${dstH}`);
  }
  const dst = new Float32Array(dstW * dstH * 3);
  resizeInto(dst, 0, src, srcW, srcH, channels, dstW, dstH);
  return dst;
}

function resizeInto(dst: Float32Array, offset: number, src: Uint8Array, srcW: number, srcH: number, channels: number, dstW: number, dstH: number): void {
  // Column taps are the same for every row: compute them once.
  const x0 = new Int32Array(dstW);
  const x1 = new Int32Array(dstW);
  const xFrac = new Float64Array(dstW);
  for (let x = 0; x < dstW; x++) {
    const sx = alignCornersSource(x, srcW, dstW);
    const lo = Math.floor(sx);
    x0[x] = lo * channels;
    x1[x] = Math.min(srcW - 1, lo + 1) * channels;
    xFrac[x] = sx - lo;
  }

  let out = offset;
  for (let y = 0; y < dstH; y++) {
    const sy = alignCornersSource(y, srcH, dstH);
    const lo = Math.floor(sy);
    const top = lo * srcW * channels;
    const bottom = Math.min(srcH - 1, lo + 1) * srcW * channels;
    const yf = sy - lo;
    for (let x = 0; x < dstW; x++) {
      const l = x0[x] as number;
      const r = x1[x] as number;
      const xf = xFrac[x] as number;
      for (let c = 0; c < 3; c++) {
        const tl = src[top + l + c] as number;
        const tr = src[top + r + c] as number;
        const bl = src[bottom + l + c] as number;
        const br = src[bottom + r + c] as number;
        const t = tl + (tr - tl) * xf;
        const b = bl + (br - bl) * xf;
        dst[out++] = (t + (b - t) * yf) / 255;
      }
    }
  }
}

/** Source coordinate of output index `i`; a 1-pixel output samples the first source pixel, as TF.js does. */
function alignCornersSource(i: number, inSize: number, outSize: number): number {
  return outSize > 1 ? (i * (inSize - 1)) / (outSize - 1) : 0;
}

function assertRaster(image: NsfwInput, index: number): void {
  const { width, height, channels, data } = image;
  if (!isPositiveInteger(width) || !isPositiveInteger(height)) {
    throw new RangeError(`image ${index}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) {
    throw new RangeError(`image ${index}: channels must be 3 (RGB) or 4 (RGBA), got ${String(channels)}`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`image ${index}: expected ${width}x${height}x${channels} = ${width * height * channels} bytes, got ${data.length}`);
  }
}

function isPositiveInteger(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

function toScores(probs: Float32Array, count: number): NsfwScores[] {
  const scores: NsfwScores[] = [];
  for (let i = 0; i < count; i++) {
    const at = (k: number): number => probs[i * CLASSES.length + k] as number;
    const [drawing, hentai, neutral, porn, sexy] = [at(0), at(1), at(2), at(3), at(4)];
    scores.push({ drawing, hentai, neutral, porn, sexy, nsfw: porn + hentai + sexy });
  }
  return scores;
}

function describeContractMismatch(session: InferenceSession): string | undefined {
  const input = session.inputMetadata.find((m) => m.name === INPUT_NAME);
  const output = session.outputMetadata.find((m) => m.name === OUTPUT_NAME);
  const found = `found inputs ${describeValues(session.inputMetadata)}, outputs ${describeValues(session.outputMetadata)}`;
  if (session.inputMetadata.length !== 1 || input === undefined || output === undefined) return found;
  if (!hasTensorShape(input, [NSFW_INPUT_SIZE, NSFW_INPUT_SIZE, 3]) || !hasTensorShape(output, [CLASSES.length])) return found;
  return undefined;
}

/** A float32 tensor whose shape is [any batch dim, ...rest]. */
function hasTensorShape(meta: InferenceSession.ValueMetadata, rest: readonly number[]): boolean {
  if (!meta.isTensor || meta.type !== "float32" || meta.shape.length !== rest.length + 1) return false;
  return rest.every((dim, i) => meta.shape[i + 1] === dim);
}
