import { createHash } from "node:crypto";
import type { UploadContentType } from "../../common/images";
import { RENDITIONS, type RenditionName } from "../../common/images";
import { decodeWorking, encodeWebp, greyscaleSquare, type RawImage, readHeader, resizeInside } from "../imaging";
import { cleanOriginal } from "./clean-original";
import { colourBucket, dominantColours } from "./colours";
import { embedWatermark } from "./invisible-watermark";
import { type ImageMetadata, readMetadata } from "./metadata";
import { PHASH_INPUT_SIZE, perceptualHash } from "./phash";
import { isTruncated, RejectedFile, validateFile } from "./validate";
import { applyVisibleWatermark } from "./visible-watermark";

export { decodeWorking, type RawImage } from "../imaging";
export { RejectedFile } from "./validate";

/**
 * libwebp effort (0-6): 0 encodes about twice as fast as the default 4 at a few percent more bytes
 * and no visible difference at these sizes; the renditions are encoded once and served for years,
 * but the pipeline's speed budget is tight (see scripts/bench/pipeline.ts).
 */
export const WEBP_EFFORT = Number(process.env.WEBP_EFFORT ?? 0);

export type PipelineOptions = {
  /** Decompression-bomb guard: images with more pixels are refused before decoding. */
  maxInputPixels: number;
  /** Run the steps one after another (the benchmark does, to measure each step's CPU time). */
  sequential?: boolean;
};

/** Per step: wall-clock ms, and CPU ms of the whole process while it ran (exact only when sequential). */
export type Timings = Record<string, number>;

function timer(wall: Timings, cpu: Timings) {
  return async <T>(stage: string, work: () => Promise<T> | T): Promise<T> => {
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    try {
      return await work();
    } finally {
      const used = process.cpuUsage(cpuStarted);
      wall[stage] = (wall[stage] ?? 0) + performance.now() - started;
      cpu[stage] = (cpu[stage] ?? 0) + (used.user + used.system) / 1000;
    }
  };
}

/** Promise.all, or one after another. */
async function all<T extends readonly (() => Promise<unknown>)[]>(sequential: boolean | undefined, tasks: T): Promise<{ [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  if (!sequential) return Promise.all(tasks.map((task) => task())) as never;
  const results: unknown[] = [];
  for (const task of tasks) results.push(await task());
  return results as never;
}

export type Rendition = { name: RenditionName; body: Buffer; width: number; height: number; contentType: "image/webp" };

export type AnalysedImage = {
  /**
   * The original as buyers get it: the upload without GPS, serial numbers and owner names
   * (clean-original.ts), image data untouched. What is stored under images.original_key.
   */
  original: Uint8Array;
  /** What cleaning took out (tag names), for the job's log. */
  removedMetadata: string[];
  /** Of `original`, the delivered bytes: identical uploads clean to identical bytes, so duplicates still match. */
  sha256: string;
  /** Signed 64-bit DCT perceptual hash (Postgres bigint). */
  phash: bigint;
  format: string;
  /** Of the original, after EXIF orientation. */
  width: number;
  height: number;
  aspectRatio: number;
  metadata: ImageMetadata;
  palette: { hex: string; share: number; bucket: string }[];
  colourBucket: string | null;
  /** The working decode (long edge up to 1200 px, sRGB, no alpha), for the ML steps. */
  working: RawImage;
  timings: Timings;
  cpuTimings: Timings;
  sequential: boolean;
};

function decodeError(error: unknown, maxInputPixels: number, truncated = false): RejectedFile {
  const message = (error as Error).message ?? String(error);
  if (/pixel limit/i.test(message)) {
    return new RejectedFile(`the image has more than ${Math.round(maxInputPixels / 1e6)} megapixels (refused as a possible decompression bomb)`);
  }
  if (truncated) return new RejectedFile("the image is truncated (it ends before its end-of-image marker)");
  if (/premature end|truncated|unexpected end|end of file|short read/i.test(message)) return new RejectedFile(`the image is truncated: ${message.split("\n")[0]}`);
  return new RejectedFile(`the image could not be decoded: ${message.split("\n")[0]}`);
}

/**
 * Validates, cleans and decodes an original once, and derives its identity and description: hashes,
 * dimensions, technical metadata, colours. Everything after validation reads the cleaned file, the
 * one buyers download. The decode is at working size (JPEG shrink-on-load makes that much cheaper
 * than a full decode) and every rendition, hash and colour comes from it.
 */
export async function analyseImage(upload: Uint8Array, declared: UploadContentType | null, options: PipelineOptions): Promise<AnalysedImage> {
  const timings: Timings = {};
  const cpuTimings: Timings = {};
  const time = timer(timings, cpuTimings);

  const format = await time("validate", () => validateFile(upload, declared));
  const { bytes, removed } = await time("clean", () => cleanOriginal(upload, format));
  const sha256 = await time("sha256", () => createHash("sha256").update(bytes).digest("hex"));
  const meta = await time("metadata", async () => {
    try {
      return await readHeader(bytes, options.maxInputPixels);
    } catch (error) {
      throw decodeError(error, options.maxInputPixels, isTruncated(bytes, format));
    }
  });
  const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
  if (!oriented.width || !oriented.height) throw new RejectedFile("the image has no dimensions");
  if (oriented.width * oriented.height > options.maxInputPixels) throw decodeError(new Error("pixel limit"), options.maxInputPixels);

  const working = await time("decode", async () => {
    try {
      return await decodeWorking(bytes, options.maxInputPixels);
    } catch (error) {
      throw decodeError(error, options.maxInputPixels, isTruncated(bytes, format));
    }
  });

  const [phash, palette] = await all(options.sequential, [
    () =>
      time("phash", async () => {
        return perceptualHash(await greyscaleSquare(working, PHASH_INPUT_SIZE));
      }),
    () =>
      time("colours", async () => {
        const small = await resizeInside(working, 64);
        return dominantColours(small, 3, 5).map((c) => ({ hex: c.hex, share: Math.round(c.share * 1000) / 1000, bucket: c.bucket }));
      }),
  ] as const);
  const metadata = await time("exif", () => readMetadata(meta));

  return {
    original: bytes,
    removedMetadata: removed,
    sha256,
    phash,
    format,
    width: oriented.width,
    height: oriented.height,
    aspectRatio: Math.round((oriented.width / oriented.height) * 10_000) / 10_000,
    metadata,
    palette,
    colourBucket: palette[0] ? colourBucket(palette[0].hex) : null,
    working,
    timings,
    cpuTimings,
    sequential: options.sequential ?? false,
  };
}

/**
 * The four WebP renditions from the working decode: plain 150 and 450 px thumbnails, and the
 * 1000 and 1200 px previews with the tiled visible watermark and the invisible one carrying the
 * image id. Nothing of the original's metadata (EXIF, GPS, XMP, ICC) is copied into them.
 */
export async function renderDerivatives(image: AnalysedImage, imageId: string): Promise<Rendition[]> {
  const time = timer(image.timings, image.cpuTimings);
  const webp = async (name: RenditionName, raster: RawImage, quality: number): Promise<Rendition> => {
    const encoded = await encodeWebp(raster, RENDITIONS[name].size, { quality, effort: WEBP_EFFORT });
    return { name, ...encoded, contentType: "image/webp" };
  };

  const sequential = image.sequential;
  const plain = () => time("thumbnails", () => all(sequential, [() => webp("thumb150", image.working, 80), () => webp("thumb450", image.working, 80)] as const));
  const marked = () =>
    time("watermark", async () => {
      const { width, height } = image.working;
      const overlaid = await applyVisibleWatermark(image.working.data, width, height);
      return { data: embedWatermark(overlaid, { width, height, channels: 3 }, imageId), width, height, channels: 3 as const };
    });
  const previews = async () => {
    const wm = await marked();
    return time("previews", () => all(sequential, [() => webp("thumb1000", wm, 80), () => webp("preview", wm, 82)] as const));
  };
  const [thumbs, large] = await all(sequential, [plain, previews] as const);
  return [...thumbs, ...large];
}
