import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { crc32 } from "node:zlib";
import exifReader from "exif-reader";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { analyseImage, RejectedFile, renderDerivatives } from "../../gpu-worker/pipeline/index";
import { detectWatermark } from "../../gpu-worker/pipeline/invisible-watermark";
import { validateFile } from "../../gpu-worker/pipeline/validate";

const PHOTOS = resolve("test/fixtures/photos");

/**
 * The chunk names of a RIFF/WebP file in order. A search of the bytes for "GPS" is not a test: three
 * bytes turn up by chance in compressed image data about once in a hundred runs.
 */
function webpChunks(body: Buffer): string[] {
  expect(body.toString("latin1", 0, 4)).toBe("RIFF");
  expect(body.toString("latin1", 8, 12)).toBe("WEBP");
  const names: string[] = [];
  for (let at = 12; at + 8 <= body.length; ) {
    const size = body.readUInt32LE(at + 4);
    names.push(body.toString("latin1", at, at + 4));
    at += 8 + size + (size % 2);
  }
  return names;
}

/** A ZIP archive holding one stored (uncompressed) file, as `zip -0` writes it. */
function storedZip(name: string, text: string): Buffer {
  const [data, file] = [Buffer.from(text), Buffer.from(name)];
  const crc = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(file.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(file.length, 28);
  const localSize = local.length + file.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + file.length, 12);
  end.writeUInt32LE(localSize, 16);
  return Buffer.concat([local, file, data, central, file, end]);
}

/** Offset just past a JPEG's first start-of-scan segment: where the compressed image data begins. */
function jpegDataStart(jpeg: Buffer): number {
  const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  return sos + 2 + jpeg.readUInt16BE(sos + 2);
}
const options = { maxInputPixels: 40_000_000 };

/** A camera-like JPEG: 2400x1600, noise over a gradient, with EXIF camera data and a GPS position. */
async function cameraJpeg(): Promise<Buffer> {
  const photo = await sharp(resolve(PHOTOS, "chelsea.png")).resize(2400, 1600, { fit: "fill" }).toBuffer();
  return sharp(photo)
    .jpeg({ quality: 90 })
    .withExif({
      IFD0: { Make: "Canon", Model: "Canon EOS 5D Mark IV", Artist: "Jane Doe" },
      IFD2: { ISOSpeedRatings: "200", FNumber: "28/10", ExposureTime: "1/250", FocalLength: "50/1", DateTimeOriginal: "2024:05:01 10:20:30" },
      IFD3: { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 2964/100", GPSLongitudeRef: "E", GPSLongitude: "2/1 17/1 4047/100" },
    })
    .toBuffer();
}

async function rejection(bytes: Uint8Array, declared: Parameters<typeof analyseImage>[1], opts = options): Promise<string> {
  try {
    await analyseImage(bytes, declared, opts);
  } catch (error) {
    expect(error).toBeInstanceOf(RejectedFile);
    return (error as Error).message;
  }
  throw new Error("the file was accepted");
}

describe("the image pipeline", () => {
  let jpeg: Buffer;
  beforeAll(async () => {
    jpeg = await cameraJpeg();
  });

  it("decodes once at working size and derives identity, metadata and colours", async () => {
    const image = await analyseImage(jpeg, "image/jpeg", options);
    expect(image).toMatchObject({ format: "jpeg", width: 2400, height: 1600, aspectRatio: 1.5 });
    expect(image.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof image.phash).toBe("bigint");
    expect(image.working).toMatchObject({ width: 1200, height: 800, channels: 3 });
    expect(image.metadata.technical).toMatchObject({ camera: "Canon EOS 5D Mark IV", iso: 200, aperture: 2.8, shutter: "1/250", focalLength: 50 });
    expect(image.palette.length).toBeGreaterThan(0);
    expect(image.palette.reduce((sum, c) => sum + c.share, 0)).toBeCloseTo(1, 1);
    expect(image.colourBucket).toBe(image.palette[0]?.bucket);
    // Personal data never leaves the pipeline.
    expect(JSON.stringify(image.metadata)).not.toMatch(/GPS|Jane Doe|48\.8|Latitude/i);
  });

  it("renders four WebP renditions at their sizes with no EXIF, GPS or other metadata", async () => {
    const image = await analyseImage(jpeg, "image/jpeg", options);
    const renditions = await renderDerivatives(image, crypto.randomUUID());
    expect(renditions.map((r) => [r.name, Math.max(r.width, r.height)])).toEqual([
      ["thumb150", 150],
      ["thumb450", 450],
      ["thumb1000", 1000],
      ["preview", 1200],
    ]);
    for (const rendition of renditions) {
      const meta = await sharp(rendition.body).metadata();
      expect(meta.format).toBe("webp");
      expect(meta.exif, `${rendition.name} carries EXIF`).toBeUndefined();
      expect(meta.xmp, `${rendition.name} carries XMP`).toBeUndefined();
      // Only image data: no EXIF or XMP chunk (where GPS would be), and no EXIF header anywhere.
      expect(webpChunks(rendition.body).filter((name) => !["VP8X", "VP8 ", "VP8L", "ALPH"].includes(name))).toEqual([]);
      expect(rendition.body.includes(Buffer.from("Exif\0\0", "latin1"))).toBe(false);
    }
    // The source really had GPS, so the test above can fail.
    const sourceExif = exifReader((await sharp(jpeg).metadata()).exif as Buffer);
    expect(sourceExif.GPSInfo?.GPSLatitude).toBeDefined();
  });

  it("marks the previews with a watermark that survives JPEG q75 and a 50% resize", async () => {
    const imageId = crypto.randomUUID();
    const image = await analyseImage(jpeg, "image/jpeg", options);
    const renditions = await renderDerivatives(image, imageId);
    const preview = renditions.find((r) => r.name === "preview")?.body as Buffer;
    const thumb1000 = renditions.find((r) => r.name === "thumb1000")?.body as Buffer;
    expect(await detectWatermark(preview)).toBe(imageId);
    expect(await detectWatermark(await sharp(preview).jpeg({ quality: 75 }).toBuffer())).toBe(imageId);
    expect(await detectWatermark(await sharp(preview).resize(600).jpeg({ quality: 75 }).toBuffer())).toBe(imageId);
    expect(await detectWatermark(thumb1000)).toBe(imageId);
    // The unmarked thumbnail carries nothing.
    expect(await detectWatermark(renditions[1]?.body as Buffer)).toBeNull();
  });

  it("is deterministic: the same file gives the same hashes and the same rendition bytes", async () => {
    const imageId = crypto.randomUUID();
    const [a, b] = await Promise.all([analyseImage(jpeg, "image/jpeg", options), analyseImage(jpeg, "image/jpeg", options)]);
    expect(a.sha256).toBe(b.sha256);
    expect(a.phash).toBe(b.phash);
    const [ra, rb] = await Promise.all([renderDerivatives(a, imageId), renderDerivatives(b, imageId)]);
    expect(ra.map((r) => r.body.equals(rb.find((x) => x.name === r.name)?.body as Buffer))).toEqual([true, true, true, true]);
  });

  it("applies EXIF orientation before measuring", async () => {
    const rotated = await sharp(jpeg).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const image = await analyseImage(rotated, "image/jpeg", options);
    expect([image.width, image.height]).toEqual([1600, 2400]);
    expect([image.working.width, image.working.height]).toEqual([800, 1200]);
  });

  describe("refuses bad files with a reason", () => {
    it("an empty file", async () => {
      expect(await rejection(new Uint8Array(0), "image/jpeg")).toMatch(/empty/);
    });

    it("a text file renamed .jpg", async () => {
      expect(await rejection(Buffer.from("just some notes, not a photo\n".repeat(20)), "image/jpeg")).toMatch(/not a JPEG, PNG, TIFF, WebP or AVIF/);
    });

    it("a PNG declared as JPEG", async () => {
      const png = readFileSync(resolve(PHOTOS, "horse.png"));
      expect(await rejection(png, "image/jpeg")).toMatch(/declared as image\/jpeg but is a PNG/);
    });

    it("a truncated JPEG, with the same reason whatever else is decoding at the time", async () => {
      const truncated = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
      // libvips keeps one error buffer per process: the reason must come from the bytes, not from it.
      const reasons = await Promise.all([
        rejection(truncated, "image/jpeg"),
        ...Array.from({ length: 4 }, () => analyseImage(jpeg, "image/jpeg", options).then(() => "decoded")),
        rejection(truncated, "image/jpeg"),
      ]);
      expect(reasons[0]).toBe("the image is truncated (it ends before its end-of-image marker)");
      expect(reasons.at(-1)).toBe(reasons[0]);
    });

    it("a corrupt JPEG (scrambled entropy data)", async () => {
      const corrupt = Buffer.from(jpeg);
      for (let i = 2000; i < corrupt.length - 2; i += 7) corrupt[i] = (corrupt[i] as number) ^ 0x5a;
      expect(await rejection(corrupt, "image/jpeg")).toMatch(/could not be decoded|truncated/);
    });

    it("accepts a photo whose compressed data happens to hold ZIP and markup signatures", () => {
      // Entropy-coded data is close to random: 4-byte signatures turn up in large photos by chance
      // (a "PK\x03\x04" in about one 12-megapixel JPEG in seventy). Only real structure counts.
      const [start, end] = [jpegDataStart(jpeg), jpeg.lastIndexOf(Buffer.from([0xff, 0xd9]))];
      const at = start + Math.floor((end - start) / 2);
      const lucky = Buffer.from(jpeg);
      Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x3c, 0x73, 0x76, 0x67]).copy(lucky, at); // "PK\3\4<svg"
      expect(validateFile(lucky, "image/jpeg")).toBe("jpeg");
    });

    it("a decompression bomb (more pixels than the limit)", async () => {
      const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: "#ffffff" } })
        .png({ compressionLevel: 9 })
        .toBuffer();
      expect(bomb.length).toBeLessThan(1_000_000);
      expect(await rejection(bomb, "image/png", { maxInputPixels: 40_000_000 })).toMatch(/more than 40 megapixels.*decompression bomb/);
    });

    it("polyglots: a JPEG carrying a script, a ZIP archive or trailing data", async () => {
      expect(await rejection(Buffer.concat([jpeg, Buffer.from("<script>alert(1)</script>")]), "image/jpeg")).toMatch(/polyglot/);
      expect(await rejection(Buffer.concat([jpeg, storedZip("payload.txt", "hello")]), "image/jpeg")).toMatch(/ZIP archive/);
      // Markup in a comment segment, before the image data: still found.
      const comment = Buffer.from("<?php echo 1; ?>");
      const withComment = Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xfe, 0, comment.length + 2]), comment, jpeg.subarray(2)]);
      expect(await rejection(withComment, "image/jpeg")).toMatch(/"<\?php" content besides the image \(polyglot file\)/);
      // Whatever the case of the markup: browsers and PHP read `<ScRiPt>` as they read `<script>`.
      const commented = (text: string) => {
        const body = Buffer.from(text, "latin1");
        return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xfe, 0, body.length + 2]), body, jpeg.subarray(2)]);
      };
      for (const [text, marker] of [
        ["<ScRiPt>alert(1)</ScRiPt>", "<script"],
        ["<SCRIPT src=//evil></SCRIPT>", "<script"],
        ["<HtMl><body>hi", "<html"],
        ["<SVG/onload=alert(1)>", "<svg"],
        ["<iFrame src=//evil>", "<iframe"],
        ["<?PHP echo 1; ?>", "<?php"],
        ["<!DOCTYPE HTML><p>", "<!doctype html"],
      ]) {
        expect(await rejection(commented(text as string), "image/jpeg"), text).toContain(`${JSON.stringify(marker)} content besides the image (polyglot file)`);
      }
      expect(await rejection(Buffer.concat([jpeg, Buffer.from("<ScRiPt>fetch('//evil')</ScRiPt>")]), "image/jpeg")).toMatch(/"<script" content/);
      const svgPng = readFileSync(resolve(PHOTOS, "horse.png"));
      const text = Buffer.from("tEXtComment\0<Svg onload=alert(1)>", "latin1");
      const chunk = Buffer.concat([Buffer.alloc(4), text, Buffer.alloc(4)]);
      chunk.writeUInt32BE(text.length - 4, 0);
      chunk.writeUInt32BE(crc32(text), chunk.length - 4);
      expect(await rejection(Buffer.concat([svgPng.subarray(0, 33), chunk, svgPng.subarray(33)]), "image/png")).toMatch(/"<svg" content besides the image/);
      expect(await rejection(Buffer.concat([jpeg, Buffer.alloc(500, 7)]), "image/jpeg")).toMatch(/500 bytes of other data after the end/);
      const png = readFileSync(resolve(PHOTOS, "horse.png"));
      expect(await rejection(Buffer.concat([png, Buffer.alloc(300, 9)]), "image/png")).toMatch(/after the end of the PNG/);
    });

    it("accepts every real sample photo (PNG and JPEG) with nothing refused", async () => {
      for (const file of ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "horse.png", "motorcycle_right.png", "page.png", "rocket.jpg"]) {
        const bytes = readFileSync(resolve(PHOTOS, file));
        const image = await analyseImage(bytes, file.endsWith(".jpg") ? "image/jpeg" : "image/png", options);
        expect(image.width, file).toBeGreaterThan(0);
      }
    });
  });
});
