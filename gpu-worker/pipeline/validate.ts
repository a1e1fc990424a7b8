import type { UploadContentType } from "../../common/images";

/** A file the pipeline refuses, with a reason the contributor can act on. Not retried. */
export class RejectedFile extends Error {
  override name = "RejectedFile";
}

export type SniffedFormat = "jpeg" | "png" | "tiff" | "webp" | "avif";

const FORMAT_OF: Record<UploadContentType, SniffedFormat> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/tiff": "tiff",
  "image/webp": "webp",
  "image/avif": "avif",
};

const ascii = (bytes: Uint8Array, start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));

/** The container format from the file's signature, or null when it is none we accept. */
export function sniffFormat(bytes: Uint8Array): SniffedFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (bytes.length >= 8 && ascii(bytes, 1, 4) === "PNG" && bytes[0] === 0x89 && bytes[4] === 0x0d && bytes[5] === 0x0a) return "png";
  if (bytes.length >= 4 && (ascii(bytes, 0, 4) === "II*\u0000" || ascii(bytes, 0, 4) === "MM\u0000*")) return "tiff";
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return "webp";
  if (bytes.length >= 12 && ascii(bytes, 4, 8) === "ftyp" && ["avif", "avis"].includes(ascii(bytes, 8, 12))) return "avif";
  return null;
}

/**
 * Markers of content that has no business inside a photo (script, markup, document): polyglot files.
 * Matched without regard to case (browsers and PHP accept `<ScRiPt>`, `<?PHP`). A tag counts only when
 * its name ends there (whitespace, `/` or `>` follows): that is what a browser parses, and it keeps
 * short names such as `<svg` from turning up by chance in compressed data.
 */
const FOREIGN_TAGS = ["<script", "<html", "<svg", "<iframe", "<object", "<embed", "<body", "<!doctype html"];
const FOREIGN_TEXT = ["<?php", "%pdf-"];
const TAG_END = new Set([0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x2f, 0x3e]);

/** Whether `region` holds `marker` (lower-case ASCII) at `at`, ignoring ASCII case. */
function matchesAt(region: Buffer, at: number, marker: string): boolean {
  if (at + marker.length > region.length) return false;
  for (let i = 0; i < marker.length; i++) {
    const byte = region[at + i] as number;
    const lower = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
    if (lower !== marker.charCodeAt(i)) return false;
  }
  return true;
}

/** The first foreign marker in `region` (as listed, lower case), or null. */
export function findForeignContent(region: Buffer): string | null {
  for (const lead of [0x3c, 0x25]) {
    for (let at = region.indexOf(lead); at >= 0; at = region.indexOf(lead, at + 1)) {
      for (const tag of FOREIGN_TAGS) {
        if (matchesAt(region, at, tag) && (at + tag.length === region.length || TAG_END.has(region[at + tag.length] as number))) return tag;
      }
      for (const text of FOREIGN_TEXT) if (matchesAt(region, at, text)) return text === "%pdf-" ? "%PDF-" : text;
    }
  }
  return null;
}
/** A ZIP archive's end-of-central-directory record: 22 bytes, then a comment of up to 65,535. */
const ZIP_END_OF_DIRECTORY = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const ZIP_END_SEARCH = 22 + 65_535;

/**
 * Whether the file ends the way a ZIP archive does: an end-of-central-directory record whose comment
 * runs exactly to the end of the file (give or take padding). That is what unzip and friends look
 * for, so it is what makes an image-plus-archive polyglot work; a stray "PK" signature inside
 * compressed image data (about one 12-megapixel photo in seventy) is not an archive.
 */
function endsLikeZip(view: Buffer): boolean {
  const end = contentEnd(view);
  for (let at = view.lastIndexOf(ZIP_END_OF_DIRECTORY); at >= 0 && at >= view.length - ZIP_END_SEARCH; at = at > 0 ? view.lastIndexOf(ZIP_END_OF_DIRECTORY, at - 1) : -1) {
    if (at + 22 > view.length) continue;
    const commentEnd = at + 22 + view.readUInt16LE(at + 20);
    if (commentEnd >= end && commentEnd <= view.length) return true;
  }
  return false;
}

/**
 * Where a JPEG's header segments (APPn, COM, tables) end: just past the first start-of-scan
 * segment, where the entropy-coded image data begins. Markup hidden in a JPEG rides in those
 * segments or after the end; searching the compressed data too would find short markers such as
 * "<svg" there by chance.
 */
function jpegHeaderEnd(view: Buffer): number {
  let at = 2;
  while (at + 4 <= view.length && view[at] === 0xff) {
    const marker = view[at + 1] as number;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2;
      continue;
    }
    const length = view.readUInt16BE(at + 2);
    at += 2 + length;
    if (marker === 0xda) return Math.min(at, view.length);
  }
  return Math.min(at, view.length);
}

const PADDING = new Set([0x00, 0x0a, 0x0d, 0x20]);

/** Index just past the last byte that is not padding (zeros, whitespace). */
function contentEnd(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && PADDING.has(bytes[end - 1] as number)) end--;
  return end;
}

/**
 * Whether the file stops before its format's end marker (JPEG EOI, PNG IEND, WebP's declared RIFF
 * size): a truncated upload. Read from the bytes, so the reason given for a file that fails to
 * decode does not depend on libvips' per-process error buffer (which other decodes running at the
 * same moment can change).
 */
export function isTruncated(bytes: Uint8Array, format: SniffedFormat): boolean {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "jpeg") return view.lastIndexOf(Buffer.from([0xff, 0xd9])) < 0;
  if (format === "png") return view.lastIndexOf(Buffer.from("IEND", "latin1")) < 0;
  if (format === "webp") return bytes.length < view.readUInt32LE(4) + 8;
  return false;
}

/** Bytes after the format's own end marker: another file riding along (polyglot) or a damaged file. */
function trailingBytes(bytes: Uint8Array, format: SniffedFormat): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "jpeg") {
    const end = contentEnd(bytes);
    if (bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9) return 0;
    const eoi = view.lastIndexOf(Buffer.from([0xff, 0xd9]));
    // No end-of-image marker at all: truncated; sharp reports that with more precision.
    return eoi < 0 ? 0 : end - (eoi + 2);
  }
  if (format === "png") {
    const iend = view.lastIndexOf(Buffer.from("IEND", "latin1"));
    if (iend < 0) return 0;
    return contentEnd(bytes) - Math.min(bytes.length, iend + 8);
  }
  if (format === "webp") {
    const declared = view.readUInt32LE(4) + 8;
    return Math.max(0, bytes.length - declared - (declared % 2));
  }
  return 0;
}

/**
 * Checks a file before it is decoded: not empty, a format we accept, the format it was declared
 * as, and nothing else hiding in it (markup, scripts, archives, or data after the image's end).
 * Throws RejectedFile with the reason.
 */
export function validateFile(bytes: Uint8Array, declared: UploadContentType | null): SniffedFormat {
  if (bytes.length === 0) throw new RejectedFile("the file is empty (0 bytes)");
  const format = sniffFormat(bytes);
  if (!format) throw new RejectedFile("the file is not a JPEG, PNG, TIFF, WebP or AVIF image (unrecognised file signature)");
  if (declared && FORMAT_OF[declared] !== format) {
    throw new RejectedFile(`the file was declared as ${declared} but is a ${format.toUpperCase()} image`);
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // In a JPEG, markup hides in the header segments or after the end-of-image marker.
  const eoi = format === "jpeg" ? view.lastIndexOf(Buffer.from([0xff, 0xd9])) : -1;
  const searched = format === "jpeg" ? [view.subarray(0, jpegHeaderEnd(view)), view.subarray(Math.max(0, eoi))] : [view];
  for (const region of searched) {
    const marker = findForeignContent(region);
    if (marker) throw new RejectedFile(`the file contains ${JSON.stringify(marker)} content besides the image (polyglot file)`);
  }
  if (endsLikeZip(view)) throw new RejectedFile("the file contains a ZIP archive besides the image (polyglot file)");
  const trailing = trailingBytes(bytes, format);
  if (trailing > 16) throw new RejectedFile(`the file has ${trailing} bytes of other data after the end of the ${format.toUpperCase()} image`);
  return format;
}
