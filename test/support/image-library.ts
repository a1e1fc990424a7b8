import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import sharp from "sharp";
import type { UploadContentType } from "../../common/images";
import { seededRandom } from "../../common/random";

/**
 * A generated photo library for migration tests: a few hundred small, visibly different images
 * (gradient, shapes and noise from a seeded generator, so every SHA-256 and perceptual hash differs)
 * in JPEG, PNG, TIFF, WebP and AVIF under mixed-case extensions, in a folder tree three levels deep;
 * some carry a title and keywords in XMP (any format) or IPTC (JPEG); a manifest (CSV and JSONL) for
 * a subset; corrupt files, exact copies under other paths, and files that are not images at all.
 * The same options write the same bytes, on every machine.
 */

export type LibraryFormat = "jpeg" | "png" | "tiff" | "webp" | "avif";

/** Descriptive text as a migration should list it. */
export type Description = { title: string; description?: string; keywords: string[] };

export type ManifestEntry = Description & { path: string; editorial: boolean; category?: string };

export type LibraryImage = {
  /** Relative to the library root, '/'-separated. */
  path: string;
  format: LibraryFormat;
  contentType: UploadContentType;
  sha256: string;
  bytes: number;
  width: number;
  height: number;
  /** Title and keywords written into the file itself, and how. */
  embedded?: Description & { via: "xmp" | "iptc" };
  /** The manifest's row for this file, when it has one (it wins over what the file embeds). */
  manifest?: ManifestEntry;
};

export type CorruptFile = { path: string; kind: "truncated jpeg" | "random bytes" | "empty" | "text" };

export type ImageLibrary = {
  root: string;
  /** Every good file with content found nowhere else in the library. */
  images: LibraryImage[];
  /** Exact copies: the copy's path and the path of the image it copies (same file name, another folder). */
  duplicates: { path: string; originalPath: string }[];
  /** Files with an image extension that no decoder accepts. */
  corrupt: CorruptFile[];
  /** Files a migration must not pick up (no image extension, or hidden). */
  ignored: string[];
  manifest: { csv: string; jsonl: string; rows: ManifestEntry[] };
};

export type ImageLibraryOptions = {
  /** Good unique images (default 300). */
  count?: number;
  seed?: number;
  /** Where the CSV and JSONL manifests go (default: beside the library root, not inside it). */
  manifestDir?: string;
};

const FORMATS: { format: LibraryFormat; contentType: UploadContentType; extensions: string[] }[] = [
  { format: "jpeg", contentType: "image/jpeg", extensions: ["jpg", "JPG", "jpeg", "Jpeg"] },
  { format: "png", contentType: "image/png", extensions: ["png", "PNG"] },
  { format: "tiff", contentType: "image/tiff", extensions: ["tif", "TIFF", "tiff"] },
  { format: "webp", contentType: "image/webp", extensions: ["webp", "WebP"] },
  { format: "avif", contentType: "image/avif", extensions: ["avif", "AVIF"] },
];

/** Folders three levels deep (plus the root); files go at every level. */
const FOLDERS = (() => {
  const out = [""];
  for (const year of ["2019", "2020 Trips", "Archive"]) {
    out.push(year);
    for (const place of ["Beach", "city, lights", "Mountains"]) {
      out.push(`${year}/${place}`);
      for (const cut of ["raw", "Edited"]) out.push(`${year}/${place}/${cut}`);
    }
  }
  return out;
})();

const CATEGORIES = ["nature", "travel", "architecture", "abstract"];
const WORDS = ["harbour", "sunset", "forest", "granite", "meadow", "skyline", "glacier", "orchard", "lantern", "canyon", "reef", "dune"];

type Rgb = [number, number, number];

/** Pixels of one distinct picture: a two-colour gradient at an angle, a few flat shapes, and grain. */
function picture(random: () => number, width: number, height: number): Buffer {
  const colour = (): Rgb => [random() * 255, random() * 255, random() * 255];
  const [from, to] = [colour(), colour()];
  const angle = random() * Math.PI * 2;
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  const shapes = Array.from({ length: 2 + Math.floor(random() * 3) }, () => ({
    round: random() < 0.5,
    x: random() * width,
    y: random() * height,
    r: (0.1 + random() * 0.25) * Math.min(width, height),
    colour: colour(),
  }));
  const data = Buffer.alloc(width * height * 3);
  const span = Math.abs(dx) * width + Math.abs(dy) * height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = ((x - width / 2) * dx + (y - height / 2) * dy) / span + 0.5;
      let rgb: Rgb = [from[0] + (to[0] - from[0]) * t, from[1] + (to[1] - from[1]) * t, from[2] + (to[2] - from[2]) * t];
      for (const shape of shapes) {
        const inside = shape.round ? (x - shape.x) ** 2 + (y - shape.y) ** 2 < shape.r ** 2 : Math.abs(x - shape.x) < shape.r && Math.abs(y - shape.y) < shape.r * 0.6;
        if (inside) rgb = shape.colour;
      }
      const grain = (random() - 0.5) * 24;
      const at = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) data[at + c] = Math.max(0, Math.min(255, Math.round((rgb[c] as number) + grain)));
    }
  }
  return data;
}

const escapeXml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[ch]};`);

/** An XMP packet with dc:title (x-default) and dc:subject, as Lightroom writes them. */
function xmpPacket({ title, keywords }: Description): string {
  return (
    `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` +
    `<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">` +
    `<dc:title><rdf:Alt><rdf:li xml:lang="x-default">${escapeXml(title)}</rdf:li></rdf:Alt></dc:title>` +
    `<dc:subject><rdf:Bag>${keywords.map((k) => `<rdf:li>${escapeXml(k)}</rdf:li>`).join("")}</rdf:Bag></dc:subject>` +
    `</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`
  );
}

/** IPTC IIM (UTF-8) 2:05 object name and 2:25 keywords, in an APP13 Photoshop resource right after SOI. */
function withIptc(jpeg: Buffer, { title, keywords }: Description): Buffer {
  const dataset = (record: number, id: number, value: Buffer) => Buffer.concat([Buffer.from([0x1c, record, id, value.length >> 8, value.length & 0xff]), value]);
  const iim = Buffer.concat([dataset(1, 90, Buffer.from([0x1b, 0x25, 0x47])), dataset(2, 5, Buffer.from(title)), ...keywords.map((k) => dataset(2, 25, Buffer.from(k)))]);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(iim.length);
  const resource = Buffer.concat([Buffer.from("Photoshop 3.0\0", "latin1"), Buffer.from("8BIM"), Buffer.from([0x04, 0x04, 0, 0]), size, iim, Buffer.alloc(iim.length % 2)]);
  const header = Buffer.from([0xff, 0xed, 0, 0]);
  header.writeUInt16BE(resource.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, resource, jpeg.subarray(2)]);
}

async function encode(pixels: Buffer, width: number, height: number, format: LibraryFormat, xmp: string | undefined): Promise<Buffer> {
  let image = sharp(pixels, { raw: { width, height, channels: 3 } });
  image =
    format === "jpeg"
      ? image.jpeg({ quality: 85 })
      : format === "png"
        ? image.png({ compressionLevel: 3 })
        : format === "tiff"
          ? image.tiff({ compression: "lzw" })
          : format === "webp"
            ? image.webp({ quality: 80, effort: 0 })
            : image.avif({ quality: 50, effort: 0 });
  if (xmp !== undefined) image = image.withXmp(xmp);
  return image.toBuffer();
}

/** One CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
const csvField = (value: string) => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

/**
 * Writes the library under `root` (created) and says what it wrote. About a second for 300 images.
 *
 * @example
 * const library = await writeImageLibrary(join(tmp, "photos"), { count: 300, seed: 7 });
 * library.images.length; // 300
 */
export async function writeImageLibrary(root: string, options: ImageLibraryOptions = {}): Promise<ImageLibrary> {
  const count = options.count ?? 300;
  const random = seededRandom(options.seed ?? 1);
  const manifestDir = options.manifestDir ?? dirname(root);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const write = (path: string, bytes: Uint8Array | string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), bytes);
  };

  const images: LibraryImage[] = [];
  // The first two files' bytes, to truncate and to hide.
  const samples: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const { format, contentType, extensions } = FORMATS[i % FORMATS.length]!;
    const folder = FOLDERS[i % FOLDERS.length]!;
    const name = `img-${String(i).padStart(4, "0")}.${extensions[Math.floor(i / FORMATS.length) % extensions.length]}`;
    const path = folder ? `${folder}/${name}` : name;
    const width = 64 + Math.floor(random() * 137);
    const height = 64 + Math.floor(random() * 137);
    const words = [pick(WORDS), pick(WORDS), `set-${i % 7}`].filter((w, at, all) => all.indexOf(w) === at);
    // Every sixth image says what it is in XMP; a few other JPEGs say it in IPTC.
    const embedded: LibraryImage["embedded"] =
      i % 6 === 0
        ? { title: `Embedded ${words[0]} & ${words[1]} no. ${i}`, keywords: words, via: "xmp" }
        : format === "jpeg" && i % 6 === 5
          ? { title: `IPTC ${words[0]} no. ${i}`, keywords: words, via: "iptc" }
          : undefined;
    let bytes = await encode(picture(random, width, height), width, height, format, embedded?.via === "xmp" ? xmpPacket(embedded) : undefined);
    if (embedded?.via === "iptc") bytes = withIptc(bytes, embedded);
    write(path, bytes);
    if (samples.length < 2) samples.push(bytes);
    images.push({ path, format, contentType, sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length, width, height, ...(embedded ? { embedded } : {}) });
  }

  // Copies keep their file name (so any title taken from it is the same) in another folder.
  const duplicates: ImageLibrary["duplicates"] = [];
  const copied = images
    .filter((image) => image.embedded === undefined && !image.path.startsWith("Archive/"))
    .filter((_, n) => n % 17 === 3)
    .slice(0, 4);
  for (const [n, original] of copied.entries()) {
    const path = `Archive/copies ${n}/${original.path.split("/").pop()}`;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    copyFileSync(join(root, original.path), join(root, path));
    duplicates.push({ path, originalPath: original.path });
  }

  // A manifest row for every eighth image (some of which also embed text: the manifest wins), never for a copied one.
  const rows: ManifestEntry[] = [];
  for (const [i, image] of images.entries()) {
    if (i % 8 !== 0 || copied.includes(image)) continue;
    const row: ManifestEntry = {
      path: image.path,
      title: `Manifest title ${i}, with a comma`,
      ...(i % 3 === 0 ? { description: `Row ${i}: a "quoted" word,\nand a second line` } : {}),
      keywords: ["manifest", `row ${i}`],
      editorial: i % 16 === 8,
      ...(rows.length % 3 === 0 ? { category: CATEGORIES[rows.length % CATEGORIES.length] } : {}),
    };
    rows.push(row);
    image.manifest = row;
  }
  // Keywords share one CSV field, separated by ';' or (quoted) ', '.
  const csvRows = rows.map((row, n) =>
    [row.path, row.title, row.description ?? "", row.keywords.join(n % 2 === 0 ? ";" : ", "), String(row.editorial), row.category ?? ""].map(csvField).join(","),
  );
  const csv = join(manifestDir, "manifest.csv");
  const jsonl = join(manifestDir, "manifest.jsonl");
  mkdirSync(manifestDir, { recursive: true });
  writeFileSync(csv, `path,title,description,keywords,editorial,category\n${csvRows.join("\n")}\n`);
  writeFileSync(jsonl, rows.map((row) => JSON.stringify(row)).join("\n") + "\n");

  const corrupt: CorruptFile[] = [
    { path: "2019/Beach/truncated.jpg", kind: "truncated jpeg" },
    { path: "2020 Trips/random bytes.JPG", kind: "random bytes" },
    { path: "Archive/empty.png", kind: "empty" },
    { path: "2019/notes.webp", kind: "text" },
  ];
  const jpeg = samples[0]!;
  write(corrupt[0]!.path, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  // 0x00 first: never a JPEG (FF D8 FF) or any other accepted signature.
  write(corrupt[1]!.path, Buffer.from([0, ...Array.from({ length: 4095 }, () => Math.floor(random() * 256))]));
  write(corrupt[2]!.path, new Uint8Array());
  write(corrupt[3]!.path, "These are notes, not a picture.\n".repeat(20));

  const ignored = ["README.txt", "2020 Trips/.DS_Store", "Archive/.hidden.jpg", "2019/Beach/raw/sidecar.xmp"];
  write(ignored[0]!, "Photos from the old site.\n");
  write(ignored[1]!, Buffer.from([0, 0, 0, 1, 0x42, 0x75, 0x64, 0x31]));
  write(ignored[2]!, samples[1]!);
  write(ignored[3]!, xmpPacket({ title: "A sidecar", keywords: ["sidecar"] }));

  return { root, images, duplicates, corrupt, ignored, manifest: { csv, jsonl, rows } };
}
