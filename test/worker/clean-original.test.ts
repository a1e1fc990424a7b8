import { createHash } from "node:crypto";
import { inflateSync } from "node:zlib";
import exifReader from "exif-reader";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { cleanOriginal } from "../../gpu-worker/pipeline/clean-original";
import { analyseImage } from "../../gpu-worker/pipeline/index";
import { parseIptc, parseXmp } from "../../gpu-worker/pipeline/metadata";
import { webpChunks } from "../support/webp";

/**
 * The delivered original (issue 16): a buyer's download carries no GPS position, camera or lens
 * serial numbers, owner name or maker note, keeps copyright, artist and IPTC credits, and its image
 * data is byte for byte the contributor's.
 */

const SERIALS = ["SN-998877", "LS-554433", "Jane Owner"];

const EXIF = {
  IFD0: { Make: "Canon", Model: "Canon EOS 5D Mark IV", Copyright: "(c) 2024 Jane Example", Artist: "Jane Example" },
  IFD2: {
    ExposureTime: "1/250",
    FNumber: "28/10",
    DateTimeOriginal: "2024:05:01 12:34:56",
    LensModel: "EF50mm f/1.8 STM",
    BodySerialNumber: "SN-998877",
    LensSerialNumber: "LS-554433",
    CameraOwnerName: "Jane Owner",
    // libexif writes these two empty (fixed sizes it will not fill): present as tags, checked as tags.
    ImageUniqueID: "UID-0042",
    MakerNote: "MAKERNOTE-SN-31337",
  },
  IFD3: { GPSLatitudeRef: "N", GPSLatitude: "47/1 36/1 2238/100", GPSLongitudeRef: "W", GPSLongitude: "122/1 19/1 5940/100", GPSAltitude: "5612/100" },
};

const XMP = `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"
    exif:GPSLatitude="47,36.373N" exif:GPSLongitude="122,19.99W" aux:SerialNumber="SN-998877" xmpRights:Marked="True">
   <exif:GPSAltitude>5612/100</exif:GPSAltitude>
   <aux:LensSerialNumber>LS-554433</aux:LensSerialNumber>
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">(c) 2024 Jane Example</rdf:li></rdf:Alt></dc:rights>
   <dc:creator><rdf:Seq><rdf:li>Jane Example</rdf:li></rdf:Seq></dc:creator>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>`;

const LOCATION = ["47,36.373N", "122,19.99W", "GPSLatitude", "GPSLongitude", "GPSAltitude"];

const photo = () =>
  sharp({ create: { width: 320, height: 240, channels: 3, background: "#336699", noise: { type: "gaussian", mean: 120, sigma: 40 } } })
    .png()
    .toBuffer();

/** IPTC credits in Photoshop's APP13 resource, as Lightroom writes them. */
function app13(): Buffer {
  const dataset = (id: number, value: string) => {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([Buffer.from([0x1c, 2, id, bytes.length >> 8, bytes.length & 0xff]), bytes]);
  };
  const iim = Buffer.concat([dataset(116, "(c) 2024 Jane Example"), dataset(80, "Jane Example"), dataset(110, "Example Agency")]);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(iim.length);
  const payload = Buffer.concat([Buffer.from("Photoshop 3.0\0", "latin1"), Buffer.from("8BIM"), Buffer.from([0x04, 0x04, 0, 0]), size, iim, Buffer.alloc(iim.length % 2)]);
  const header = Buffer.from([0xff, 0xed, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([header, payload]);
}

/** Where a JPEG's entropy-coded data starts: its first start-of-scan marker. */
const scanStart = (jpeg: Buffer) => jpeg.indexOf(Buffer.from([0xff, 0xda]));

type Chunk = { type: string; data: Buffer; crcOk: boolean };
function pngChunks(png: Buffer): Chunk[] {
  const chunks: Chunk[] = [];
  for (let at = 8; at + 12 <= png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    chunks.push({ type, data: png.subarray(at + 8, at + 8 + length), crcOk: pngCrc(png.subarray(at + 4, at + 8 + length)) === png.readUInt32BE(at + 8 + length) });
    at += 12 + length;
  }
  return chunks;
}

function pngCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const has = (bytes: Uint8Array, text: string) => Buffer.from(bytes).includes(Buffer.from(text, "latin1"));
const exifOf = async (bytes: Uint8Array) => exifReader((await sharp(bytes).metadata()).exif as Buffer);
const pixels = async (bytes: Uint8Array) => sharp(bytes).raw().toBuffer();

/** Everything that must be in the upload, so that its absence afterwards is the cleaner's doing. */
async function expectIdentifying(bytes: Uint8Array) {
  const exif = await exifOf(bytes);
  expect(exif.GPSInfo?.GPSLatitude).toEqual([47, 36, 22.38]);
  expect(exif.Photo?.BodySerialNumber).toBe("SN-998877");
  expect(exif.Photo?.LensSerialNumber).toBe("LS-554433");
  expect(exif.Photo?.CameraOwnerName).toBe("Jane Owner");
  expect(exif.Photo).toHaveProperty("ImageUniqueID");
  expect(exif.Photo).toHaveProperty("MakerNote");
  for (const text of SERIALS) expect(has(bytes, text), text).toBe(true);
  // XMP may be deflated (PNG): read as a reader would.
  const xmp = (await sharp(bytes).metadata()).xmpAsString ?? "";
  for (const text of [...LOCATION, ...SERIALS.slice(0, 2)]) expect(xmp, text).toContain(text);
}

async function expectClean(bytes: Uint8Array) {
  const exif = await exifOf(bytes);
  expect(exif.GPSInfo).toBeUndefined();
  expect(exif.Photo?.BodySerialNumber).toBeUndefined();
  expect(exif.Photo?.LensSerialNumber).toBeUndefined();
  expect(exif.Photo?.CameraOwnerName).toBeUndefined();
  expect(exif.Photo?.ImageUniqueID).toBeUndefined();
  expect(exif.Photo?.MakerNote).toBeUndefined();
  const xmp = (await sharp(bytes).metadata()).xmpAsString ?? "";
  for (const text of [...SERIALS, ...LOCATION]) {
    expect(has(bytes, text), text).toBe(false);
    expect(xmp, text).not.toContain(text);
  }
  // What buyers need stays: rights, the artist, the camera and exposure.
  expect(exif.Image?.Copyright).toBe("(c) 2024 Jane Example");
  expect(exif.Image?.Artist).toBe("Jane Example");
  expect(exif.Image?.Model).toBe("Canon EOS 5D Mark IV");
  expect(exif.Photo?.ExposureTime).toBe(0.004);
  expect(parseXmp(xmp)).toMatchObject({ copyright: "(c) 2024 Jane Example", creator: "Jane Example" });
  expect(xmp).toContain('xmpRights:Marked="True"');
}

describe("cleanOriginal", () => {
  it("JPEG: GPS, serials, owner and maker note gone, copyright, artist and IPTC kept, entropy-coded data byte-identical", async () => {
    const encoded = await sharp(await photo())
      .jpeg({ quality: 90 })
      .withExif(EXIF)
      .withXmp(XMP)
      .toBuffer();
    const upload = Buffer.concat([encoded.subarray(0, 2), app13(), encoded.subarray(2)]);
    await expectIdentifying(upload);

    const { bytes, removed } = cleanOriginal(upload, "jpeg");
    const delivered = Buffer.from(bytes);
    await expectClean(delivered);
    expect(removed).toEqual(
      expect.arrayContaining(["GPS", "BodySerialNumber", "LensSerialNumber", "CameraOwnerName", "ImageUniqueID", "MakerNote", "XMP GPSLatitude", "XMP SerialNumber"]),
    );
    // The pixels are the contributor's: the scans from SOS to EOI are the same bytes, and decode the same.
    expect(delivered.subarray(scanStart(delivered)).equals(upload.subarray(scanStart(upload)))).toBe(true);
    expect((await pixels(delivered)).equals(await pixels(upload))).toBe(true);
    // Container edits only: EXIF and XMP keep their lengths.
    expect(delivered.length).toBe(upload.length);
    expect(parseIptc((await sharp(delivered).metadata()).iptc as Buffer)).toMatchObject({ copyright: "(c) 2024 Jane Example", creator: "Jane Example" });
    expect(has(delivered, "Example Agency")).toBe(true);
    // Deterministic, and a clean file is left alone.
    expect(Buffer.from(cleanOriginal(upload, "jpeg").bytes).equals(delivered)).toBe(true);
    const again = cleanOriginal(delivered, "jpeg");
    expect(again.removed).toEqual([]);
    expect(again.bytes).toBe(delivered);
  });

  it("JPEG: an EXIF block too broken to edit is dropped, not delivered", async () => {
    const encoded = await sharp(await photo())
      .jpeg()
      .toBuffer();
    const payload = Buffer.concat([Buffer.from("Exif\0\0MM\0*\0\0\0\x08\xff\xff", "latin1"), Buffer.from("GPS 47.6N SN-998877")]);
    const header = Buffer.from([0xff, 0xe1, 0, 0]);
    header.writeUInt16BE(payload.length + 2, 2);
    const upload = Buffer.concat([encoded.subarray(0, 2), header, payload, encoded.subarray(2)]);
    const delivered = Buffer.from(cleanOriginal(upload, "jpeg").bytes);
    expect(has(delivered, "SN-998877")).toBe(false);
    expect(delivered.length).toBe(encoded.length);
    expect(delivered.equals(encoded)).toBe(true);
  });

  it("PNG: eXIf, XMP text and a GPS comment cleaned, IDAT identical, every CRC valid", async () => {
    const encoded = await sharp(await photo())
      .png()
      .withExif(EXIF)
      .withXmp(XMP)
      .toBuffer();
    // A tEXt comment holding a position, as some geotaggers write it, and EXIF as ImageMagick copies it into tEXt.
    const tEXt = (keyword: string, value: string) => {
      const text = Buffer.from(`tEXt${keyword}\0${value}`, "latin1");
      const chunk = Buffer.concat([Buffer.alloc(4), text, Buffer.alloc(4)]);
      chunk.writeUInt32BE(text.length - 4, 0);
      chunk.writeUInt32BE(pngCrc(text), chunk.length - 4);
      return chunk;
    };
    const upload = Buffer.concat([encoded.subarray(0, 33), tEXt("Comment", "GPS 47.606N 122.333W"), tEXt("exif:BodySerialNumber", "SN-4711"), encoded.subarray(33)]);
    await expectIdentifying(upload);
    expect(pngChunks(upload).map((c) => c.type)).toEqual(expect.arrayContaining(["eXIf", "zTXt", "tEXt", "IDAT"]));

    const delivered = Buffer.from(cleanOriginal(upload, "png").bytes);
    // The XMP is deflated in a zTXt chunk: look inside it too.
    const xmpChunk = pngChunks(delivered).find((c) => c.type === "zTXt" && c.data.toString("latin1").startsWith("XML:com.adobe.xmp\0"));
    const xmp = inflateSync(xmpChunk?.data.subarray(19) ?? Buffer.alloc(0)).toString("utf8");
    expect(xmp).not.toMatch(/GPS|SerialNumber|SN-998877/);
    expect(parseXmp(xmp)).toMatchObject({ copyright: "(c) 2024 Jane Example" });
    await expectClean(delivered);
    expect(pngChunks(delivered).some((c) => c.type === "tEXt")).toBe(false);
    expect(has(delivered, "SN-4711")).toBe(false);
    expect(pngChunks(delivered).every((c) => c.crcOk)).toBe(true);
    const idat = (png: Buffer) =>
      Buffer.concat(
        pngChunks(png)
          .filter((c) => c.type === "IDAT")
          .map((c) => c.data),
      );
    expect(idat(delivered).equals(idat(upload))).toBe(true);
    expect((await pixels(delivered)).equals(await pixels(upload))).toBe(true);
  });

  it("WebP: EXIF and XMP chunks cleaned in place, image chunk and RIFF size unchanged", async () => {
    const upload = await sharp(await photo())
      .webp({ quality: 80 })
      .withExif(EXIF)
      .withXmp(XMP)
      .toBuffer();
    await expectIdentifying(upload);
    const delivered = Buffer.from(cleanOriginal(upload, "webp").bytes);
    await expectClean(delivered);
    expect(delivered.readUInt32LE(4) + 8).toBe(delivered.length);
    const image = (webp: Buffer) => webpChunks(webp).find((c) => c.type === "VP8 " || c.type === "VP8L")?.data;
    expect(image(delivered)?.equals(image(upload) as Buffer)).toBe(true);
  });

  it("AVIF: the EXIF and XMP items cleaned where they lie, nothing re-encoded", async () => {
    const upload = await sharp(await photo())
      .resize(96)
      .avif({ quality: 60 })
      .withExif(EXIF)
      .withXmp(XMP)
      .toBuffer();
    await expectIdentifying(upload);
    const delivered = Buffer.from(cleanOriginal(upload, "avif").bytes);
    await expectClean(delivered);
    expect(delivered.length).toBe(upload.length);
    expect((await pixels(delivered)).equals(await pixels(upload))).toBe(true);
  });

  it("the pipeline analyses and hashes the cleaned file: the sha256 is the delivered bytes'", async () => {
    const upload = await sharp(await photo())
      .jpeg({ quality: 90 })
      .withExif(EXIF)
      .toBuffer();
    const analysed = await analyseImage(upload, "image/jpeg", { maxInputPixels: 40_000_000 });
    expect(has(analysed.original, "SN-998877")).toBe(false);
    expect(analysed.removedMetadata).toContain("GPS");
    expect(analysed.sha256).toBe(createHash("sha256").update(analysed.original).digest("hex"));
    expect(analysed.sha256).not.toBe(createHash("sha256").update(upload).digest("hex"));
    expect(analysed.metadata.technical).toMatchObject({ camera: "Canon EOS 5D Mark IV", shutter: "1/250" });
  });
});
