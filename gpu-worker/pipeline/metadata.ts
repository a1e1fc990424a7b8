import exifReader from "exif-reader";
import type { ImageHeader as Metadata } from "../imaging";

/**
 * Technical and descriptive metadata from what `sharp(buf).metadata()` already returned: its decoded
 * header fields plus the raw EXIF, IPTC, XMP and ICC buffers. Nothing here decodes pixels or loads sharp.
 *
 * Allow-list only: every returned field is copied by name from a known tag, never by iterating over
 * what a file contains. GPS, serial numbers (BodySerialNumber, LensSerialNumber, CameraSerialNumber),
 * owner names (CameraOwnerName, OwnerName), maker notes and user comments are never read, so they cannot
 * leak into search documents, APIs or logs. Malformed buffers never throw: whatever cannot be read is
 * omitted. Absent fields are left out, never set to null.
 */

/** Camera, exposure and file facts; every field is JSON-safe. */
export interface TechnicalMetadata {
  /** Decoder sharp used, e.g. "jpeg", "png". */
  format: string;
  /** Display size: EXIF orientations 5-8 (90° turns) swap the stored width and height. */
  width: number;
  height: number;
  hasAlpha: boolean;
  /** sharp's colour interpretation, e.g. "srgb", "cmyk", "b-w". */
  colourSpace: string;
  /** Description of the embedded ICC profile, e.g. "Display P3". */
  iccProfile?: string;
  /** Bits per sample. */
  bitDepth?: number;
  /** EXIF Orientation, 1-8. */
  orientation?: number;
  /** Make and model without the make repeated, e.g. "Canon EOS 5D Mark IV". */
  camera?: string;
  lens?: string;
  iso?: number;
  /** f-number, e.g. 2.8. */
  aperture?: number;
  /** Exposure time as photographers write it: "1/250", "0.5", "2". */
  shutter?: string;
  exposureSeconds?: number;
  /** Focal length in mm. */
  focalLength?: number;
  /** 35 mm-equivalent focal length in mm. */
  focalLength35mm?: number;
  /**
   * DateTimeOriginal as ISO 8601, with OffsetTimeOriginal when the file has it
   * ("2024-05-01T12:34:56+02:00"); without it the value is local time of unknown zone ("2024-05-01T12:34:56").
   */
  capturedAt?: string;
}

/** Title, caption, keywords and rights, for importers; XMP wins over IPTC field by field. */
export interface DescriptiveMetadata {
  title?: string;
  description?: string;
  keywords?: string[];
  copyright?: string;
  creator?: string;
}

export interface ImageMetadata {
  technical: TechnicalMetadata;
  descriptive: DescriptiveMetadata;
}

/**
 * Reads technical and descriptive metadata from sharp's `Metadata`; never throws on bad EXIF, IPTC,
 * XMP or ICC data.
 *
 * @example
 * const { technical, descriptive } = readMetadata(await sharp(upload).metadata());
 * technical.camera; // "Canon EOS 5D Mark IV"
 * descriptive.keywords; // ["harbour", "sunset"]
 */
export function readMetadata(meta: Metadata): ImageMetadata {
  const technical: TechnicalMetadata = {
    format: String(meta.format),
    ...displaySize(meta),
    hasAlpha: meta.hasAlpha === true,
    colourSpace: String(meta.space),
  };
  const icc = meta.icc === undefined ? undefined : iccProfileDescription(meta.icc);
  if (icc !== undefined) technical.iccProfile = icc;
  const bitDepth = meta.bitsPerSample ?? DEPTH_BITS[meta.depth];
  if (isPositive(bitDepth)) technical.bitDepth = bitDepth;
  if (isOrientation(meta.orientation)) technical.orientation = meta.orientation;
  if (meta.exif !== undefined) Object.assign(technical, readExif(meta.exif));

  const fromXmp = readXmpField(meta);
  const fromIptc = meta.iptc === undefined ? {} : parseIptc(meta.iptc);
  const descriptive: DescriptiveMetadata = {};
  for (const field of ["title", "description", "copyright", "creator"] as const) {
    const value = fromXmp[field] ?? fromIptc[field];
    if (value !== undefined) descriptive[field] = value;
  }
  const keywords = fromXmp.keywords ?? fromIptc.keywords;
  if (keywords !== undefined) descriptive.keywords = keywords;
  return { technical, descriptive };
}

const DEPTH_BITS: Partial<Record<string, number>> = {
  uchar: 8,
  char: 8,
  ushort: 16,
  short: 16,
  uint: 32,
  int: 32,
  float: 32,
  double: 64,
};

function isPositive(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value > 0;
}

function isOrientation(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 8;
}

function displaySize(meta: Metadata): { width: number; height: number } {
  const oriented = (meta as Partial<Pick<Metadata, "autoOrient">>).autoOrient;
  if (oriented !== undefined && isPositive(oriented.width) && isPositive(oriented.height)) {
    return { width: oriented.width, height: oriented.height };
  }
  const turned = isOrientation(meta.orientation) && meta.orientation >= 5;
  return turned ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

// ---------------------------------------------------------------------------------------------- EXIF

type ExifFields = Omit<TechnicalMetadata, "format" | "width" | "height" | "hasAlpha" | "colourSpace" | "iccProfile" | "bitDepth">;
type ExifTagValue = exifReader.GenericTag | Date | null | undefined;

/** Camera fields from a raw EXIF block (with or without the "Exif\0\0" prefix); {} when unreadable. */
export function readExif(raw: Uint8Array): ExifFields {
  let parsed: exifReader.Exif;
  try {
    parsed = exifReader(Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  } catch {
    return {};
  }
  const image: Record<string, ExifTagValue> = parsed.Image ?? {};
  const photo: Record<string, ExifTagValue> = parsed.Photo ?? {};
  const out: ExifFields = {};

  const camera = cameraName(text(image.Make), text(image.Model));
  if (camera !== undefined) out.camera = camera;
  const lens = text(photo.LensModel);
  if (lens !== undefined) out.lens = lens;
  if (isOrientation(image.Orientation)) out.orientation = image.Orientation;

  const iso = isoSpeed(photo);
  if (iso !== undefined) out.iso = iso;

  let fNumber = number(photo.FNumber);
  const apertureApex = number(photo.ApertureValue);
  if (fNumber === undefined && apertureApex !== undefined) fNumber = 2 ** (apertureApex / 2);
  if (isPositive(fNumber) && fNumber < 1000) out.aperture = round(fNumber, 2);

  let seconds = number(photo.ExposureTime);
  const shutterApex = number(photo.ShutterSpeedValue);
  if (seconds === undefined && shutterApex !== undefined) seconds = 2 ** -shutterApex;
  if (isPositive(seconds) && seconds < 1e6) {
    out.exposureSeconds = round(seconds, 6);
    out.shutter = formatExposure(seconds);
  }

  const focal = number(photo.FocalLength);
  if (isPositive(focal) && focal < 1e5) out.focalLength = round(focal, 2);
  const focal35 = number(photo.FocalLengthIn35mmFilm);
  if (isPositive(focal35) && focal35 < 1e5) out.focalLength35mm = round(focal35, 2);

  const capturedAt = captureTime(photo.DateTimeOriginal, photo.OffsetTimeOriginal) ?? captureTime(photo.DateTimeDigitized, photo.OffsetTimeDigitized);
  if (capturedAt !== undefined) out.capturedAt = capturedAt;
  return out;
}

/** Printable text of an EXIF value; exif-reader returns non-ASCII strings as raw bytes (decoded as UTF-8). */
function text(value: ExifTagValue): string | undefined {
  let s: string;
  if (typeof value === "string") s = value;
  else if (Buffer.isBuffer(value)) s = decodeText(value);
  else return undefined;
  const tidy = s.replace(/\0.*$/s, "").replace(/\s+/g, " ").trim();
  return /[\p{L}\p{N}]/u.test(tidy) ? tidy : undefined;
}

function number(value: ExifTagValue): number | undefined {
  const n = Array.isArray(value) ? value[0] : value;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

const CORPORATE_SUFFIX = /[\s,]+(imaging corp\.?|optical co\.?,?\s*ltd\.?|corporation|corp\.?|co\.?,?\s*ltd\.?|company|inc\.?)$/i;

/** "NIKON CORPORATION" + "NIKON D850" → "NIKON D850"; "Canon" + "Canon EOS R5" → "Canon EOS R5". */
function cameraName(make: string | undefined, model: string | undefined): string | undefined {
  const brand = make?.replace(CORPORATE_SUFFIX, "").trim();
  if (model === undefined) return brand || undefined;
  if (!brand) return model;
  const firstWord = brand.split(" ")[0]!.toLowerCase();
  return model.toLowerCase().startsWith(firstWord) ? model : `${brand} ${model}`;
}

/** ISOSpeedRatings (PhotographicSensitivity); 65535 means "see the EXIF 2.3 sensitivity tags". */
function isoSpeed(photo: Record<string, ExifTagValue>): number | undefined {
  for (const tag of ["ISOSpeedRatings", "RecommendedExposureIndex", "StandardOutputSensitivity", "ISOSpeed"]) {
    const value = number(photo[tag]);
    if (isPositive(value) && value < 65535) return Math.round(value);
  }
  return undefined;
}

/** As exiftool prints it: fractions up to 1/4 s, decimals above. */
function formatExposure(seconds: number): string {
  if (seconds <= 0.25001) return `1/${Math.round(1 / seconds)}`;
  return String(round(seconds, 1));
}

const OFFSET = /^[+-](0\d|1[0-4]):[0-5]\d$/;

function captureTime(value: ExifTagValue, offset: ExifTagValue): string | undefined {
  // exif-reader turns "YYYY:MM:DD HH:MM:SS" into a Date whose UTC fields are the wall-clock time.
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) return undefined;
  const year = value.getUTCFullYear();
  if (year < 1900 || year > 9999) return undefined;
  const local = value.toISOString().slice(0, 19);
  const zone = text(offset);
  return zone !== undefined && OFFSET.test(zone) ? local + zone : local;
}

// ----------------------------------------------------------------------------------------------- ICC

/** The ICC profile's 'desc' tag (v2 textDescriptionType or v4 multiLocalizedUnicodeType). */
export function iccProfileDescription(icc: Uint8Array): string | undefined {
  try {
    const view = new DataView(icc.buffer, icc.byteOffset, icc.byteLength);
    if (icc.byteLength < 132) return undefined;
    const tagCount = Math.min(view.getUint32(128), 200);
    for (let i = 0; i < tagCount; i++) {
      const entry = 132 + i * 12;
      if (entry + 12 > icc.byteLength) return undefined;
      if (view.getUint32(entry) !== 0x64657363 /* desc */) continue;
      const offset = view.getUint32(entry + 4);
      const size = view.getUint32(entry + 8);
      if (offset + size > icc.byteLength || size < 12) return undefined;
      const type = view.getUint32(offset);
      if (type === 0x64657363 /* desc */) {
        const length = Math.min(view.getUint32(offset + 8), size - 12);
        return text(Buffer.from(icc.subarray(offset + 12, offset + 12 + length)));
      }
      if (type === 0x6d6c7563 /* mluc */ && size >= 28) {
        const records = view.getUint32(offset + 8);
        const recordSize = view.getUint32(offset + 12);
        if (records === 0 || recordSize < 12) return undefined;
        const length = view.getUint32(offset + 16 + 4);
        const start = offset + view.getUint32(offset + 16 + 8);
        if (start + length > offset + size) return undefined;
        let s = "";
        for (let p = start; p + 1 < start + length; p += 2) s += String.fromCharCode(view.getUint16(p));
        return text(s);
      }
      return undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------- IPTC

const utf8 = new TextDecoder("utf-8", { fatal: true });

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** UTF-8 when the bytes are valid UTF-8 (the IIM 1:90 "ESC % G" case and most modern files), else Latin-1. */
function decodeText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return latin1(bytes);
  }
}

/** Finds the IPTC-NAA stream: raw IIM (starts 0x1C), or inside Photoshop image resources (8BIM 0x0404). */
function locateIim(data: Uint8Array): Uint8Array | undefined {
  if (data[0] === 0x1c) return data;
  const header = latin1(data.subarray(0, 14));
  let pos = header === "Photoshop 3.0\0" ? 14 : 0;
  while (pos + 12 <= data.length) {
    if (data[pos] !== 0x38 || data[pos + 1] !== 0x42 || data[pos + 2] !== 0x49 || data[pos + 3] !== 0x4d) return undefined; // 8BIM
    const id = (data[pos + 4]! << 8) | data[pos + 5]!;
    const nameLength = data[pos + 6]!;
    let p = pos + 6 + 1 + nameLength;
    if ((1 + nameLength) % 2 === 1) p++; // Pascal name padded to even length
    if (p + 4 > data.length) return undefined;
    const size = ((data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!) >>> 0;
    p += 4;
    if (p + size > data.length) return undefined;
    if (id === 0x0404) return data.subarray(p, p + size);
    pos = p + size + (size % 2);
  }
  return undefined;
}

/**
 * Descriptive fields from an IPTC IIM block (raw datasets or wrapped in Photoshop 8BIM resources):
 * 2:05 object name → title, 2:120 caption → description, 2:25 keywords, 2:116 copyright,
 * 2:80 by-line → creator (several joined with ", "). Stops quietly at the first malformed dataset.
 */
export function parseIptc(data: Uint8Array): DescriptiveMetadata {
  const out: DescriptiveMetadata = {};
  let iim: Uint8Array | undefined;
  try {
    iim = locateIim(data);
  } catch {
    return out;
  }
  if (iim === undefined) return out;
  const keywords: string[] = [];
  const creators: string[] = [];
  let pos = 0;
  while (pos + 5 <= iim.length && iim[pos] === 0x1c) {
    const record = iim[pos + 1]!;
    const dataset = iim[pos + 2]!;
    let length = (iim[pos + 3]! << 8) | iim[pos + 4]!;
    pos += 5;
    if (length & 0x8000) {
      // Extended dataset: the low 15 bits give how many bytes hold the length.
      const lengthBytes = length & 0x7fff;
      if (lengthBytes > 4 || pos + lengthBytes > iim.length) break;
      length = 0;
      for (let i = 0; i < lengthBytes; i++) length = length * 256 + iim[pos + i]!;
      pos += lengthBytes;
    }
    if (pos + length > iim.length) break;
    if (record === 2) {
      const value = text(Buffer.from(iim.subarray(pos, pos + length)));
      if (value !== undefined) {
        if (dataset === 5) out.title ??= value;
        else if (dataset === 120) out.description ??= value;
        else if (dataset === 116) out.copyright ??= value;
        else if (dataset === 25) keywords.push(value);
        else if (dataset === 80) creators.push(value);
      }
    }
    pos += length;
  }
  const uniqueKeywords = dedupe(keywords);
  if (uniqueKeywords.length > 0) out.keywords = uniqueKeywords;
  if (creators.length > 0) out.creator = dedupe(creators).join(", ");
  return out;
}

/** Keeps the first spelling of each keyword, case-insensitively. */
function dedupe(values: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const value of values) {
    const key = value.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(value);
  }
  return out;
}

// ----------------------------------------------------------------------------------------------- XMP

function readXmpField(meta: Metadata): DescriptiveMetadata {
  try {
    const xml = meta.xmpAsString ?? (meta.xmp === undefined ? undefined : decodeText(meta.xmp));
    return xml === undefined ? {} : parseXmp(xml);
  } catch {
    return {};
  }
}

const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#(\d{1,7})|#x([0-9a-f]{1,6}));/gi;
const NAMED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(ENTITY, (whole, name: string | undefined, dec: string | undefined, hex: string | undefined) => {
    if (name !== undefined) return NAMED_ENTITIES[name.toLowerCase()] ?? whole;
    const code = dec !== undefined ? Number.parseInt(dec, 10) : Number.parseInt(hex ?? "", 16);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

const LIST_ITEM = /<rdf:li\b([^>]*?)(?:\/>|>([\s\S]*?)<\/rdf:li>)/g;

/** Text items of one dc: property: the rdf:li of its Alt/Bag/Seq, or its plain text content. */
function xmpItems(xml: string, property: string): { lang?: string; value: string }[] {
  const block = new RegExp(`<dc:${property}\\b[^>]*?(?:/>|>([\\s\\S]*?)</dc:${property}>)`).exec(xml);
  const inner = block?.[1];
  if (inner === undefined) return [];
  const items: { lang?: string; value: string }[] = [];
  if (!inner.includes("<rdf:li")) {
    const value = text(decodeEntities(inner.replace(/<[^>]*>/g, "")));
    return value === undefined ? [] : [{ value }];
  }
  for (const match of inner.matchAll(LIST_ITEM)) {
    const value = text(decodeEntities((match[2] ?? "").replace(/<[^>]*>/g, "")));
    if (value === undefined) continue;
    const lang = /xml:lang\s*=\s*["']([^"']*)["']/.exec(match[1] ?? "")?.[1];
    items.push(lang === undefined ? { value } : { lang, value });
  }
  return items;
}

/** rdf:Alt: the x-default entry, else the first. */
function xmpAlt(xml: string, property: string): string | undefined {
  const items = xmpItems(xml, property);
  return (items.find((item) => item.lang?.toLowerCase() === "x-default") ?? items[0])?.value;
}

/**
 * Descriptive fields from an XMP packet: dc:title, dc:description and dc:rights (rdf:Alt, x-default
 * preferred), dc:subject (rdf:Bag → keywords) and dc:creator (rdf:Seq, joined with ", ").
 * Regex extraction of these few properties, not a general RDF parser; malformed XML yields fewer fields.
 */
export function parseXmp(xml: string): DescriptiveMetadata {
  const out: DescriptiveMetadata = {};
  const title = xmpAlt(xml, "title");
  if (title !== undefined) out.title = title;
  const description = xmpAlt(xml, "description");
  if (description !== undefined) out.description = description;
  const copyright = xmpAlt(xml, "rights");
  if (copyright !== undefined) out.copyright = copyright;
  const keywords = dedupe(xmpItems(xml, "subject").map((item) => item.value));
  if (keywords.length > 0) out.keywords = keywords;
  const creators = dedupe(xmpItems(xml, "creator").map((item) => item.value));
  if (creators.length > 0) out.creator = creators.join(", ");
  return out;
}
