import { deflateSync, inflateSync } from "node:zlib";
import { crc32 } from "./crc32";
import { RejectedFile, type SniffedFormat } from "./validate";

/**
 * The original buyers download, without what says where a photo was taken or which camera body,
 * lens or owner took it: the EXIF GPS IFD, the serial-number and owner tags, the maker note (it
 * embeds serials), and the same properties in XMP. Copyright, Artist, IPTC and XMP rights stay.
 *
 * No format is re-encoded: every edit is to the container, and the image data is copied byte for
 * byte (JPEG entropy-coded segments, PNG IDAT, WebP VP8/VP8L/ALPH, TIFF strips, AVIF's mdat image
 * items). Inside EXIF, a removed entry leaves its IFD (the entries after it move up) and its value
 * bytes are zeroed, so no offset moves and the block keeps its length; XMP properties are blanked
 * with spaces of the same length (XML allows whitespace there). Only dropped blocks change a file's
 * length: JPEG extended-XMP segments, PNG text chunks that hold GPS, EXIF blocks too malformed to
 * edit. Deterministic: the same file always gives the same bytes, so duplicate detection by SHA-256
 * still works. A file with nothing to remove comes back unchanged (the same array).
 */

export type CleanedOriginal = { bytes: Uint8Array; removed: string[] };

/** Removes location, serial numbers and owner names from an original of the given (sniffed) format. */
export function cleanOriginal(bytes: Uint8Array, format: SniffedFormat): CleanedOriginal {
  const buf = Buffer.from(bytes);
  const removed: string[] = [];
  let out: Buffer | null;
  if (format === "jpeg") out = cleanJpeg(buf, removed);
  else if (format === "png") out = cleanPng(buf, removed);
  else if (format === "webp") out = cleanWebp(buf, removed);
  else if (format === "tiff") {
    if (!scrubTiff(buf, 0, buf.length, removed, true)) throw new RejectedFile("the TIFF's directory could not be read to remove its location and serial numbers");
    out = buf;
  } else out = cleanAvif(buf, removed);
  return removed.length === 0 || out === null ? { bytes, removed: [] } : { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), removed: [...new Set(removed)] };
}

// ---------------------------------------------------------------------------------------------- EXIF

const GPS_IFD = 0x8825;
const EXIF_IFD = 0x8769;
const XMP_TAG = 0x02bc;
/** Tags that identify a camera, lens or person, by the IFD they live in (IFD0 tags appear in EXIF too). */
const IDENTIFYING: Record<number, string> = {
  0x927c: "MakerNote",
  0xa420: "ImageUniqueID",
  0xa430: "CameraOwnerName",
  0xa431: "BodySerialNumber",
  0xa435: "LensSerialNumber",
  0xc62f: "CameraSerialNumber",
};
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4 };
const MAX_IFDS = 64;

/**
 * Edits a TIFF structure (an EXIF block or a whole TIFF file) at `base..end` in place: the GPS IFD
 * and identifying tags leave their directories, their values are zeroed; with `withXmp`, XMP in
 * tag 700 is cleaned too. False when the structure cannot be walked safely (the caller drops the block).
 */
function scrubTiff(buf: Buffer, base: number, end: number, removed: string[], withXmp = false): boolean {
  if (end - base < 8) return false;
  const order = buf.toString("latin1", base, base + 2);
  if (order !== "II" && order !== "MM") return false;
  const le = order === "II";
  const u16 = (at: number) => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const w16 = (at: number, v: number) => (le ? buf.writeUInt16LE(v, at) : buf.writeUInt16BE(v, at));
  if (u16(base + 2) !== 42) return false;
  const seen = new Set<number>();

  type Entry = { at: number; tag: number; dataAt: number; size: number };
  const readIfd = (offset: number): Entry[] | null => {
    const at = base + offset;
    if (offset < 8 || at + 2 > end || seen.has(offset) || seen.size >= MAX_IFDS) return null;
    seen.add(offset);
    const count = u16(at);
    if (at + 2 + count * 12 + 4 > end) return null;
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const e = at + 2 + i * 12;
      const size = (TYPE_SIZE[u16(e + 2)] ?? 1) * u32(e + 4);
      const dataAt = size > 4 ? base + u32(e + 8) : e + 8;
      if (size > 4 && (dataAt < base || dataAt + size > end)) return null;
      entries.push({ at: e, tag: u16(e), dataAt, size });
    }
    return entries;
  };
  /** Zeroes an entry's value and takes the entry out of its directory (the rest move up). */
  const drop = (ifdAt: number, entry: Entry) => {
    if (entry.size > 4) buf.fill(0, entry.dataAt, entry.dataAt + entry.size);
    const count = u16(ifdAt);
    const last = ifdAt + 2 + (count - 1) * 12;
    buf.copy(buf, entry.at, entry.at + 12, last + 12 + 4);
    buf.fill(0, last + 4, last + 16);
    w16(ifdAt, count - 1);
  };
  const wipeIfd = (offset: number): boolean => {
    const entries = readIfd(offset);
    if (!entries) return false;
    for (const entry of entries) if (entry.size > 4) buf.fill(0, entry.dataAt, entry.dataAt + entry.size);
    buf.fill(0, base + offset, base + offset + 2 + entries.length * 12 + 4);
    return true;
  };
  /** Cleans one directory; removals go last to first, so earlier entries keep their positions. */
  const cleanIfd = (offset: number, nested: boolean): boolean => {
    const ifdAt = base + offset;
    const entries = readIfd(offset);
    if (!entries) return false;
    for (const entry of [...entries].reverse()) {
      if (entry.tag === GPS_IFD) {
        if (!wipeIfd(u32(entry.at + 8))) return false;
        drop(ifdAt, entry);
        removed.push("GPS");
      } else if (IDENTIFYING[entry.tag]) {
        drop(ifdAt, entry);
        removed.push(IDENTIFYING[entry.tag] as string);
      } else if (entry.tag === EXIF_IFD && !nested) {
        if (!cleanIfd(u32(entry.at + 8), true)) return false;
      } else if (entry.tag === XMP_TAG && withXmp && entry.size > 4) {
        const xmp = scrubXmp(buf.subarray(entry.dataAt, entry.dataAt + entry.size));
        if (xmp.length > 0) removed.push(...xmp);
      }
    }
    return true;
  };
  // IFD0 and the chain after it (IFD1, the thumbnail; further pages in a TIFF file).
  for (let offset = u32(base + 4), i = 0; offset !== 0; i++) {
    if (i >= MAX_IFDS || !cleanIfd(offset, false)) return false;
    const next = base + offset + 2 + u16(base + offset) * 12;
    offset = u32(next);
    if (offset !== 0 && seen.has(offset)) return false;
  }
  return true;
}

// ----------------------------------------------------------------------------------------------- XMP

/** XMP properties, in any namespace prefix, that locate a photo or identify its camera or owner. */
const XMP_PROPERTY = String.raw`[\w.-]+:(?:GPS\w*|(?:Body|Lens|Camera|Internal)?SerialNumber|(?:Camera)?OwnerName|ImageUniqueID)`;
const XMP_ELEMENT = new RegExp(String.raw`<(${XMP_PROPERTY})(?=[\s/>])[^>]*?(?:/>|>[\s\S]*?</\1\s*>)`, "g");
const XMP_ATTRIBUTE = new RegExp(String.raw`\s(${XMP_PROPERTY})\s*=\s*(?:"[^"]*"|'[^']*')`, "g");

/**
 * Blanks GPS, serial-number and owner properties (elements and attributes) of an XMP packet in
 * place with spaces of the same byte length; returns the names removed. Rights (dc:rights,
 * xmpRights:*), creator and descriptions are other properties and stay.
 */
function scrubXmp(packet: Buffer): string[] {
  const text = packet.toString("latin1");
  const removed: string[] = [];
  for (const pattern of [XMP_ELEMENT, XMP_ATTRIBUTE]) {
    for (const match of text.matchAll(pattern)) {
      packet.fill(0x20, match.index, match.index + match[0].length);
      removed.push(`XMP ${match[1]?.split(":")[1]}`);
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------- JPEG

const EXIF_HEADER = Buffer.from("Exif\0\0", "latin1");
const XMP_HEADER = Buffer.from("http://ns.adobe.com/xap/1.0/\0", "latin1");
const XMP_EXTENSION_HEADER = Buffer.from("http://ns.adobe.com/xmp/extension/\0", "latin1");
const PHOTOSHOP_HEADER = Buffer.from("Photoshop 3.0\0", "latin1");

const startsWith = (buf: Buffer, at: number, prefix: Buffer) => buf.length >= at + prefix.length && buf.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;

/** An EXIF block that may or may not start with "Exif\0\0" (WebP and PNG writers differ). */
function scrubExifBlock(buf: Buffer, start: number, end: number, removed: string[]): boolean {
  return scrubTiff(buf, startsWith(buf, start, EXIF_HEADER) ? start + 6 : start, end, removed);
}

/**
 * Photoshop image resources (APP13): IPTC (0x0404) stays; the EXIF (0x0422, 0x0423) and XMP
 * (0x0424) copies Photoshop may keep there are cleaned like the APP1 ones. False when malformed.
 */
function scrubPhotoshop(buf: Buffer, start: number, end: number, removed: string[]): boolean {
  let at = start;
  while (at + 12 <= end) {
    if (buf.toString("latin1", at, at + 4) !== "8BIM") return false;
    const id = buf.readUInt16BE(at + 4);
    const nameLength = buf[at + 6] as number;
    let p = at + 6 + 1 + nameLength + ((1 + nameLength) % 2);
    if (p + 4 > end) return false;
    const size = buf.readUInt32BE(p);
    p += 4;
    if (p + size > end) return false;
    if ((id === 0x0422 || id === 0x0423) && !scrubExifBlock(buf, p, p + size, removed)) return false;
    if (id === 0x0424) removed.push(...scrubXmp(buf.subarray(p, p + size)));
    at = p + size + (size % 2);
  }
  return true;
}

/**
 * Walks the header segments up to the first start-of-scan and edits them; from there to the end
 * (the entropy-coded data, later scans and tables, EOI) the file is copied as it is.
 */
function cleanJpeg(buf: Buffer, removed: string[]): Buffer {
  const kept: Buffer[] = [buf.subarray(0, 2)];
  let at = 2;
  while (at + 4 <= buf.length && buf[at] === 0xff) {
    const marker = buf[at + 1] as number;
    if (marker === 0xda) break;
    if (marker === 0xff || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      const step = marker === 0xff ? 1 : 2;
      kept.push(buf.subarray(at, at + step));
      at += step;
      continue;
    }
    const next = Math.min(buf.length, at + 2 + buf.readUInt16BE(at + 2));
    const body = at + 4;
    let keep = true;
    if (marker === 0xe1 && startsWith(buf, body, EXIF_HEADER)) {
      if (!scrubTiff(buf, body + 6, next, removed)) {
        keep = false;
        removed.push("EXIF (unreadable)");
      }
    } else if (marker === 0xe1 && startsWith(buf, body, XMP_HEADER)) {
      removed.push(...scrubXmp(buf.subarray(body + XMP_HEADER.length, next)));
    } else if (marker === 0xe1 && startsWith(buf, body, XMP_EXTENSION_HEADER)) {
      // Extended XMP is split over segments at arbitrary byte offsets: it cannot be edited per segment.
      keep = false;
      removed.push("extended XMP");
    } else if (marker === 0xed && startsWith(buf, body, PHOTOSHOP_HEADER)) {
      if (!scrubPhotoshop(buf, body + PHOTOSHOP_HEADER.length, next, removed)) {
        keep = false;
        removed.push("Photoshop resources (unreadable)");
      }
    }
    if (keep) kept.push(buf.subarray(at, next));
    at = next;
  }
  kept.push(buf.subarray(at));
  return Buffer.concat(kept);
}

// ----------------------------------------------------------------------------------------------- PNG

function pngChunk(type: string, data: Buffer): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, "latin1");
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

const XMP_KEYWORD = "XML:com.adobe.xmp";
/** Text-chunk keywords that name a position or an identifier (ImageMagick writes EXIF as "exif:GPSLatitude"...). */
const IDENTIFYING_TEXT = /GPS|SerialNumber|OwnerName|ImageUniqueID|MakerNote/i;

/** A PNG text chunk's keyword and text (inflated when compressed); null when malformed. */
function pngText(type: string, data: Buffer): { keyword: string; text: Buffer; compressed: boolean; textAt: number } | null {
  const nul = data.indexOf(0);
  if (nul < 0) return null;
  const keyword = data.toString("latin1", 0, nul);
  try {
    if (type === "tEXt") return { keyword, text: data.subarray(nul + 1), compressed: false, textAt: nul + 1 };
    if (type === "zTXt") return { keyword, text: inflateSync(data.subarray(nul + 2)), compressed: true, textAt: nul + 2 };
    const compressed = data[nul + 1] === 1;
    const language = data.indexOf(0, nul + 3);
    const translated = language < 0 ? -1 : data.indexOf(0, language + 1);
    if (translated < 0) return null;
    const raw = data.subarray(translated + 1);
    return { keyword, text: compressed ? inflateSync(raw) : raw, compressed, textAt: translated + 1 };
  } catch {
    return null;
  }
}

/**
 * eXIf is cleaned in place (new CRC); XMP in a text chunk is cleaned (re-deflated when it was
 * compressed); other text chunks that mention GPS or are named after a position or identifier, and
 * ImageMagick's hex "Raw profile type exif/APP1/xmp" copies, are dropped. IDAT and every other chunk are copied as they are.
 */
function cleanPng(buf: Buffer, removed: string[]): Buffer {
  const kept: Buffer[] = [buf.subarray(0, 8)];
  let at = 8;
  while (at + 12 <= buf.length) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString("latin1", at + 4, at + 8);
    const next = at + 12 + length;
    if (next > buf.length) break;
    const data = buf.subarray(at + 8, at + 8 + length);
    let chunk: Buffer | null = buf.subarray(at, next);
    if (type === "eXIf") {
      const before = removed.length;
      if (!scrubExifBlock(buf, at + 8, at + 8 + length, removed)) {
        chunk = null;
        removed.push("EXIF (unreadable)");
      } else if (removed.length > before) chunk = pngChunk(type, data);
    } else if (type === "tEXt" || type === "zTXt" || type === "iTXt") {
      const text = pngText(type, data);
      if (text?.keyword === XMP_KEYWORD) {
        const found = scrubXmp(text.text);
        if (found.length > 0) {
          removed.push(...found);
          const cleaned = text.compressed ? deflateSync(text.text) : text.text;
          chunk = pngChunk(type, Buffer.concat([data.subarray(0, text.textAt), cleaned]));
        }
      } else if (text === null || /^Raw profile type (exif|APP1|xmp)$/i.test(text.keyword) || IDENTIFYING_TEXT.test(text.keyword) || /GPS/i.test(text.text.toString("latin1"))) {
        chunk = null;
        removed.push(`PNG ${type} ${text?.keyword ?? "(unreadable)"}`);
      }
    }
    if (chunk) kept.push(chunk);
    at = next;
    if (type === "IEND") break;
  }
  kept.push(buf.subarray(at));
  return Buffer.concat(kept);
}

// ---------------------------------------------------------------------------------------------- WebP

const VP8X_EXIF_FLAG = 0x08;

/**
 * The EXIF and "XMP " chunks are cleaned in place (same sizes); an EXIF chunk too malformed to
 * edit is dropped, with the RIFF size and the VP8X flag corrected. Image chunks are copied as they are.
 */
function cleanWebp(buf: Buffer, removed: string[]): Buffer {
  const kept: Buffer[] = [];
  let dropped = false;
  let at = 12;
  const riffEnd = Math.min(buf.length, buf.readUInt32LE(4) + 8);
  while (at + 8 <= riffEnd) {
    const type = buf.toString("latin1", at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    const next = Math.min(riffEnd, at + 8 + size + (size % 2));
    let keep = true;
    if (type === "EXIF" && !scrubExifBlock(buf, at + 8, Math.min(riffEnd, at + 8 + size), removed)) {
      keep = false;
      dropped = true;
      removed.push("EXIF (unreadable)");
    } else if (type === "XMP ") {
      removed.push(...scrubXmp(buf.subarray(at + 8, Math.min(riffEnd, at + 8 + size))));
    }
    if (keep) kept.push(buf.subarray(at, next));
    at = next;
  }
  if (!dropped) return buf;
  const body = Buffer.concat(kept);
  const header = Buffer.from(buf.subarray(0, 12));
  header.writeUInt32LE(4 + body.length, 4);
  const vp8x = body.indexOf("VP8X", 0, "latin1");
  if (vp8x === 0) body[8] = (body[8] as number) & ~VP8X_EXIF_FLAG;
  return Buffer.concat([header, body, buf.subarray(riffEnd)]);
}

// ---------------------------------------------------------------------------------------------- AVIF

type Box = { type: string; start: number; body: number; end: number };

function* boxes(buf: Buffer, start: number, end: number): Generator<Box> {
  let at = start;
  while (at + 8 <= end) {
    let size = buf.readUInt32BE(at);
    const type = buf.toString("latin1", at + 4, at + 8);
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > end) return;
      size = Number(buf.readBigUInt64BE(at + 8));
      body = at + 16;
    } else if (size === 0) size = end - at;
    if (size < body - at || at + size > end) return;
    yield { type, start: at, body, end: at + size };
    at += size;
  }
}

/**
 * AVIF (HEIF) keeps EXIF and XMP as items of the `meta` box, located by `iloc`: those items are
 * cleaned in place where they lie (file offsets, construction method 0). An item stored any
 * other way is refused rather than delivered uncleaned.
 */
function cleanAvif(buf: Buffer, removed: string[]): Buffer {
  const meta = [...boxes(buf, 0, buf.length)].find((box) => box.type === "meta");
  if (!meta) return buf;
  const children = [...boxes(buf, meta.body + 4, meta.end)];
  const iinf = children.find((box) => box.type === "iinf");
  const iloc = children.find((box) => box.type === "iloc");
  if (!iinf || !iloc) return buf;

  const kinds = new Map<number, "exif" | "xmp">();
  const iinfVersion = buf[iinf.body] as number;
  for (const infe of boxes(buf, iinf.body + 4 + (iinfVersion === 0 ? 2 : 4), iinf.end)) {
    if (infe.type !== "infe") continue;
    const version = buf[infe.body] as number;
    if (version < 2) continue;
    let p = infe.body + 4;
    const id = version === 2 ? buf.readUInt16BE(p) : buf.readUInt32BE(p);
    p += (version === 2 ? 2 : 4) + 2;
    const itemType = buf.toString("latin1", p, p + 4);
    if (itemType === "Exif") kinds.set(id, "exif");
    if (itemType === "mime") {
      const name = buf.indexOf(0, p + 4);
      const contentType = name < 0 ? "" : buf.toString("latin1", name + 1, Math.max(name + 1, buf.indexOf(0, name + 1)));
      if (contentType === "application/rdf+xml") kinds.set(id, "xmp");
    }
  }
  if (kinds.size === 0) return buf;

  const version = buf[iloc.body] as number;
  let p = iloc.body + 4;
  const sizes = buf.readUInt16BE(p);
  const [offsetSize, lengthSize, baseSize, indexSize] = [sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15, version > 0 ? sizes & 15 : 0];
  p += 2;
  /** The next n-byte big-endian field (0, 2, 4 or 8 bytes; NaN for sizes AVIF does not use). */
  const read = (n: number) => {
    if (p + n > iloc.end) throw new RejectedFile("the AVIF's item locations are truncated");
    const value = n === 0 ? 0 : n === 2 ? buf.readUInt16BE(p) : n === 4 ? buf.readUInt32BE(p) : n === 8 ? Number(buf.readBigUInt64BE(p)) : Number.NaN;
    p += n;
    return value;
  };
  const itemCount = read(version < 2 ? 2 : 4);
  for (let i = 0; i < itemCount; i++) {
    const id = read(version < 2 ? 2 : 4);
    const method = version > 0 ? read(2) & 15 : 0;
    read(2); // data_reference_index
    const baseOffset = read(baseSize);
    const extents = read(2);
    const kind = kinds.get(id);
    for (let e = 0; e < extents; e++) {
      read(indexSize);
      const offset = baseOffset + read(offsetSize);
      const length = read(lengthSize);
      if (!kind) continue;
      if (method !== 0 || extents !== 1 || Number.isNaN(offset) || offset + length > buf.length) {
        throw new RejectedFile(`the AVIF's ${kind.toUpperCase()} is stored in a way the location and serial numbers cannot be removed from`);
      }
      if (kind === "xmp") removed.push(...scrubXmp(buf.subarray(offset, offset + length)));
      // The Exif item starts with the offset of its TIFF header, after 4 bytes.
      else if (length < 4 || !scrubTiff(buf, offset + 4 + buf.readUInt32BE(offset), offset + length, removed)) {
        throw new RejectedFile("the AVIF's EXIF could not be read to remove its location and serial numbers");
      }
    }
  }
  return buf;
}
