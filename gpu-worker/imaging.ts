import sharp, { type Metadata } from "sharp";
import { RENDITIONS } from "../common/images";

/**
 * The worker's one adapter over sharp (libvips): its process-wide settings, and every decode,
 * resize and encode the pipeline, the ML preprocessing and the entry points need. Nothing else in
 * gpu-worker/ or migrate/ imports sharp (test/checks enforces it), so a libvips upgrade, a setting
 * or a swap of the library is one file's change.
 */

/** What a header read returns (format, dimensions, orientation, raw EXIF/IPTC/XMP/ICC buffers). */
export type ImageHeader = Metadata;

/** An 8-bit interleaved RGB raster: the working decode and everything derived from it. */
export type RawImage = { data: Buffer; width: number; height: number; channels: 3 };

/** Resampling kernels (libvips names). */
export type ResizeKernel = "nearest" | "linear" | "cubic" | "lanczos3";

/**
 * libvips' process-wide settings. `threads`: its worker threads per operation (one decode per job
 * shares the cores: the worker gives each job its share; an importer thread takes one). `cache`:
 * false stops libvips' operation cache from holding decoded images between files, so memory does
 * not grow with a long run.
 */
export function configureImaging(settings: { threads?: number; cache?: boolean }): void {
  if (settings.threads !== undefined) sharp.concurrency(settings.threads);
  if (settings.cache === false) sharp.cache(false);
}

/** libvips' threads per operation now. */
export const imagingThreads = (): number => sharp.concurrency();

const asBuffer = (bytes: Uint8Array) => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
const fromRaw = (image: { data: Buffer; width: number; height: number; channels: 3 | 4 }) =>
  sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });

/** Reads the header only (no pixels); throws sharp's error for a file it cannot read. */
export function readHeader(bytes: Uint8Array, maxInputPixels: number): Promise<ImageHeader> {
  return sharp(asBuffer(bytes), { limitInputPixels: maxInputPixels }).metadata();
}

/** Long edge of the one decode everything else is derived from (the largest rendition). */
export const WORKING_SIZE = RENDITIONS.preview.size;

/**
 * The one decode: EXIF-oriented, long edge at most 1200 px (JPEG shrink-on-load makes that much cheaper
 * than a full decode), flattened on white, sRGB, RGB. Also what search by image embeds. Throws sharp's
 * error for a file it cannot read; `failOn: "warning"` is the strictest (libjpeg reports scrambled
 * entropy data only as a warning).
 */
export async function decodeWorking(bytes: Uint8Array, maxInputPixels: number): Promise<RawImage> {
  const { data, info } = await sharp(asBuffer(bytes), { limitInputPixels: maxInputPixels, failOn: "warning" })
    .autoOrient()
    .resize(WORKING_SIZE, WORKING_SIZE, { fit: "inside", withoutEnlargement: true })
    .flatten({ background: "#ffffff" })
    .toColourspace("srgb")
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: 3 };
}

/**
 * Any readable image as uchar sRGB pixels, EXIF-oriented, at full size, alpha kept if it has one
 * (what watermark detection reads).
 */
export async function decodePixels(bytes: Uint8Array): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }> {
  return sharp(asBuffer(bytes)).rotate().toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
}

/** A raster shrunk to fit inside `size` x `size`, raw RGB bytes. */
export function resizeInside(image: RawImage, size: number): Promise<Buffer> {
  return fromRaw(image).resize(size, size, { fit: "inside" }).raw().toBuffer();
}

/** A raster resized to `size` x `size` (stretched) and made grey: one byte per pixel. */
export function greyscaleSquare(image: RawImage, size: number): Promise<Buffer> {
  return fromRaw(image).resize(size, size, { fit: "fill" }).greyscale().raw().toBuffer();
}

/**
 * Resized to `resize` (stretched, with `kernel`) and then centre-cropped to `crop`, raw RGB bytes;
 * either step is skipped when the size already matches. CLIP's preprocessing.
 */
export function resizeAndCrop(image: RawImage, resize: { width: number; height: number; kernel: ResizeKernel }, crop: { width: number; height: number }): Promise<Buffer> {
  let pipeline = fromRaw(image);
  if (resize.width !== image.width || resize.height !== image.height) pipeline = pipeline.resize(resize.width, resize.height, { fit: "fill", kernel: resize.kernel });
  if (resize.width !== crop.width || resize.height !== crop.height) {
    pipeline = pipeline.extract({ left: Math.floor((resize.width - crop.width) / 2), top: Math.floor((resize.height - crop.height) / 2), width: crop.width, height: crop.height });
  }
  return pipeline.raw().toBuffer();
}

/** A raster shrunk to fit `size` (never enlarged) and encoded as WebP, with no metadata copied. */
export async function encodeWebp(image: RawImage, size: number, options: { quality: number; effort: number }): Promise<{ body: Buffer; width: number; height: number }> {
  const { data, info } = await fromRaw(image)
    .resize(size, size, { fit: "inside", withoutEnlargement: true })
    .webp({ quality: options.quality, effort: options.effort })
    .toBuffer({ resolveWithObject: true });
  return { body: data, width: info.width, height: info.height };
}

/** An SVG document rendered to PNG bytes. */
export function rasteriseSvg(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Any readable image as raw RGBA bytes (an alpha channel added when it has none). */
export function decodeRgba(bytes: Uint8Array): Promise<Buffer> {
  return sharp(asBuffer(bytes)).ensureAlpha().raw().toBuffer();
}
