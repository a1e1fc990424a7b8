import exifReader from "exif-reader";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { iccProfileDescription, parseIptc, parseXmp, readExif, readMetadata } from "../../gpu-worker/pipeline/metadata";

const CAMERA_EXIF = {
  IFD0: {
    Make: "Canon",
    Model: "Canon EOS 5D Mark IV",
    Copyright: "Jane Example",
  },
  IFD2: {
    ExposureTime: "1/250",
    FNumber: "28/10",
    ISOSpeedRatings: "400",
    FocalLength: "50/1",
    FocalLengthIn35mmFilm: "50",
    DateTimeOriginal: "2024:05:01 12:34:56",
    OffsetTimeOriginal: "+02:00",
    LensModel: "EF50mm f/1.8 STM",
    BodySerialNumber: "SN-998877",
    LensSerialNumber: "LS-554433",
    CameraOwnerName: "Jane Owner",
    UserComment: "shot from my garden",
  },
  IFD3: {
    GPSLatitudeRef: "N",
    GPSLatitude: "47/1 36/1 2238/100",
    GPSLongitudeRef: "W",
    GPSLongitude: "122/1 19/1 5940/100",
    GPSAltitude: "5612/100",
  },
};

function xmpPacket(descriptionBody: string): string {
  return `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">${descriptionBody}</rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>`;
}

const STOCK_XMP = xmpPacket(`
   <dc:title><rdf:Alt>
     <rdf:li xml:lang="de-DE">Hafen bei Sonnenuntergang</rdf:li>
     <rdf:li xml:lang="x-default">Harbour at sunset &amp; boats</rdf:li>
   </rdf:Alt></dc:title>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Fishing boats &lt;moored&gt; in &quot;Old&quot; harbour, it&apos;s calm</rdf:li></rdf:Alt></dc:description>
   <dc:subject><rdf:Bag>
     <rdf:li>harbour</rdf:li><rdf:li>sunset</rdf:li><rdf:li>Boats</rdf:li><rdf:li>boats</rdf:li>
   </rdf:Bag></dc:subject>
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© 2024 Jane Example</rdf:li></rdf:Alt></dc:rights>
   <dc:creator><rdf:Seq><rdf:li>Jane Example</rdf:li><rdf:li>Studio Nord</rdf:li></rdf:Seq></dc:creator>`);

/** One IIM dataset: 0x1C, record, dataset, 2-byte big-endian length, value. */
function dataset(record: number, id: number, value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return Buffer.concat([Buffer.from([0x1c, record, id, bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

function iimBlock(): Buffer {
  return Buffer.concat([
    dataset(1, 90, Buffer.from([0x1b, 0x25, 0x47])), // UTF-8
    dataset(2, 0, Buffer.from([0, 4])),
    dataset(2, 5, "Hafen im Nebel"),
    dataset(2, 120, "Boote im Morgennebel, Hamburg"),
    dataset(2, 25, "hafen"),
    dataset(2, 25, "nebel"),
    dataset(2, 25, "Straße"),
    dataset(2, 116, "© Jörg Beispiel"),
    dataset(2, 80, "Jörg Beispiel"),
  ]);
}

/** IIM wrapped the way JPEG APP13 carries it: Photoshop image resource 0x0404. */
function photoshopResources(iim: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(iim.length);
  const padding = iim.length % 2 === 1 ? Buffer.from([0]) : Buffer.alloc(0);
  const otherResource = Buffer.concat([Buffer.from("8BIM"), Buffer.from([0x03, 0xed, 0, 0]), Buffer.from([0, 0, 0, 2, 1, 2])]);
  return Buffer.concat([Buffer.from("Photoshop 3.0\0", "latin1"), otherResource, Buffer.from("8BIM"), Buffer.from([0x04, 0x04, 0, 0]), size, iim, padding]);
}

/** Inserts an APP13 segment after SOI, as Photoshop and Lightroom write IPTC into JPEGs. */
function withApp13(jpeg: Buffer, payload: Buffer): Buffer {
  const header = Buffer.from([0xff, 0xed, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, payload, jpeg.subarray(2)]);
}

async function cameraJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 60, height: 40, channels: 3, background: "#336699" } })
    .jpeg()
    .withExif(CAMERA_EXIF)
    .withMetadata({ orientation: 6 })
    .withXmp(STOCK_XMP)
    .toBuffer();
}

describe("readMetadata technical fields", () => {
  it("reads camera, exposure, capture time and the oriented size", async () => {
    const meta = await sharp(await cameraJpeg()).metadata();
    const { technical } = readMetadata(meta);
    expect(technical).toEqual({
      format: "jpeg",
      width: 40,
      height: 60,
      hasAlpha: false,
      colourSpace: "srgb",
      iccProfile: "sRGB", // withMetadata() embeds libvips' sRGB profile
      bitDepth: 8,
      orientation: 6,
      camera: "Canon EOS 5D Mark IV",
      lens: "EF50mm f/1.8 STM",
      iso: 400,
      aperture: 2.8,
      shutter: "1/250",
      exposureSeconds: 0.004,
      focalLength: 50,
      focalLength35mm: 50,
      capturedAt: "2024-05-01T12:34:56+02:00",
    });
  });

  it("never returns GPS, serial numbers, owner names or comments", async () => {
    const meta = await sharp(await cameraJpeg()).metadata();
    // The file really carries them, so the absence below is the module's doing.
    const raw = exifReader(meta.exif!);
    expect(raw.GPSInfo?.GPSLatitude).toEqual([47, 36, 22.38]);
    expect(raw.Photo?.BodySerialNumber).toBe("SN-998877");

    const json = JSON.stringify(readMetadata(meta));
    expect(json).not.toMatch(/gps|latitude|longitude|altitude/i);
    expect(json).not.toMatch(/22\.38|59\.4|47\.6|122\.3|56\.12/);
    expect(json).not.toMatch(/SN-998877|LS-554433|Jane Owner|garden|serial|owner/i);
  });

  it("tidies camera names and derives missing values from APEX tags", async () => {
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } })
      .jpeg()
      .withExif({
        IFD0: { Make: "NIKON CORPORATION", Model: "NIKON D850" },
        IFD2: { ShutterSpeedValue: "1/1", ApertureValue: "4/1", DateTimeOriginal: "2023:12:31 23:59:58" },
      })
      .toBuffer();
    const fields = readExif((await sharp(jpeg).metadata()).exif!);
    expect(fields).toMatchObject({ camera: "NIKON D850", shutter: "0.5", exposureSeconds: 0.5, aperture: 4 });
    expect(fields.capturedAt).toBe("2023-12-31T23:59:58");

    const sony = await sharp(jpeg)
      .withExif({ IFD0: { Make: "SONY", Model: "ILCE-7M3" } })
      .jpeg()
      .toBuffer();
    expect(readExif((await sharp(sony).metadata()).exif!).camera).toBe("SONY ILCE-7M3");
  });

  it("omits absent fields instead of setting them to null", async () => {
    const png = await sharp({ create: { width: 30, height: 20, channels: 4, background: "#ff000080" } })
      .png()
      .toBuffer();
    const { technical, descriptive } = readMetadata(await sharp(png).metadata());
    expect(technical).toEqual({ format: "png", width: 30, height: 20, hasAlpha: true, colourSpace: "srgb", bitDepth: 8 });
    expect(descriptive).toEqual({});
  });

  it("names the embedded ICC profile", async () => {
    const p3 = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#ff0000" } })
      .withIccProfile("p3")
      .jpeg()
      .toBuffer();
    const meta = await sharp(p3).metadata();
    expect(readMetadata(meta).technical.iccProfile).toMatch(/P3/);
  });

  it("does not throw on malformed EXIF, ICC, IPTC or XMP", async () => {
    const meta = await sharp(await cameraJpeg()).metadata();
    const exif = meta.exif!;
    const garbage: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from("Exif\0\0"),
      Buffer.from("Exif\0\0MM\0*\xff\xff\xff\xff", "latin1"),
      Buffer.from("II*\0\x08\0\0\0\xff\xff", "latin1"),
      Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 73 + 11) % 256)),
    ];
    // Every truncation of a valid block, plus a few corrupted ones.
    for (let length = 0; length < exif.length; length += 3) garbage.push(exif.subarray(0, length));
    for (let at = 6; at < exif.length; at += 17) {
      const corrupted = Buffer.from(exif);
      corrupted[at] = 0xff;
      corrupted[at + 1] = 0x7f;
      garbage.push(corrupted);
    }
    for (const bytes of garbage) {
      const broken = { ...meta, exif: bytes, iptc: bytes, icc: bytes, xmp: bytes, xmpAsString: undefined };
      expect(() => readMetadata(broken)).not.toThrow();
      expect(() => JSON.stringify(readMetadata(broken))).not.toThrow();
    }
    expect(readMetadata({ ...meta, xmpAsString: "<dc:title><rdf:Alt><rdf:li>unclosed" }).descriptive).toEqual({});
  });
});

describe("readMetadata descriptive fields", () => {
  it("reads XMP title, description, keywords, rights and creators", async () => {
    const { descriptive } = readMetadata(await sharp(await cameraJpeg()).metadata());
    expect(descriptive).toEqual({
      title: "Harbour at sunset & boats",
      description: `Fishing boats <moored> in "Old" harbour, it's calm`,
      keywords: ["harbour", "sunset", "Boats"],
      copyright: "© 2024 Jane Example",
      creator: "Jane Example, Studio Nord",
    });
  });

  it("reads IPTC from a JPEG's APP13 and lets XMP win field by field", async () => {
    const plain = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#888" } })
      .jpeg()
      .toBuffer();
    const iptcOnly = withApp13(plain, photoshopResources(iimBlock()));
    const meta = await sharp(iptcOnly).metadata();
    expect(meta.iptc).toBeDefined();
    expect(readMetadata(meta).descriptive).toEqual({
      title: "Hafen im Nebel",
      description: "Boote im Morgennebel, Hamburg",
      keywords: ["hafen", "nebel", "Straße"],
      copyright: "© Jörg Beispiel",
      creator: "Jörg Beispiel",
    });

    const both = readMetadata({ ...meta, xmpAsString: xmpPacket(`<dc:title><rdf:Alt><rdf:li xml:lang="x-default">XMP title</rdf:li></rdf:Alt></dc:title>`) });
    expect(both.descriptive.title).toBe("XMP title");
    expect(both.descriptive.description).toBe("Boote im Morgennebel, Hamburg");
    expect(both.descriptive.keywords).toEqual(["hafen", "nebel", "Straße"]);
  });
});

describe("parseIptc", () => {
  it("parses raw IIM datasets and Photoshop-wrapped ones alike", () => {
    const expected = {
      title: "Hafen im Nebel",
      description: "Boote im Morgennebel, Hamburg",
      keywords: ["hafen", "nebel", "Straße"],
      copyright: "© Jörg Beispiel",
      creator: "Jörg Beispiel",
    };
    expect(parseIptc(iimBlock())).toEqual(expected);
    expect(parseIptc(photoshopResources(iimBlock()))).toEqual(expected);
  });

  it("decodes Latin-1 text that is not valid UTF-8 and joins several by-lines", () => {
    const iim = Buffer.concat([dataset(2, 5, Buffer.from("Caf\xe9 au lait", "latin1")), dataset(2, 80, "Ann"), dataset(2, 80, "Bo")]);
    expect(parseIptc(iim)).toEqual({ title: "Café au lait", creator: "Ann, Bo" });
  });

  it("keeps what precedes a truncated dataset", () => {
    const iim = Buffer.concat([dataset(2, 5, "Kept"), Buffer.from([0x1c, 2, 120, 0x10, 0x00]), Buffer.from("short")]);
    expect(parseIptc(iim)).toEqual({ title: "Kept" });
  });

  it("reads extended-length datasets", () => {
    const caption = "x".repeat(40_000);
    const header = Buffer.from([0x1c, 2, 120, 0x80, 0x04, 0, 0, 0, 0]);
    header.writeUInt32BE(caption.length, 5);
    expect(parseIptc(Buffer.concat([header, Buffer.from(caption)])).description).toHaveLength(40_000);
  });
});

describe("parseXmp", () => {
  it("takes the first alternative when there is no x-default and reads plain-text properties", () => {
    const xml = xmpPacket(`
      <dc:title><rdf:Alt><rdf:li xml:lang="fr">Le port</rdf:li><rdf:li xml:lang="en">The port</rdf:li></rdf:Alt></dc:title>
      <dc:rights>Plain &#169; rights &#x2014; reserved</dc:rights>
      <dc:subject><rdf:Bag><rdf:li/><rdf:li> sea </rdf:li></rdf:Bag></dc:subject>`);
    expect(parseXmp(xml)).toEqual({ title: "Le port", copyright: "Plain © rights — reserved", keywords: ["sea"] });
  });

  it("returns nothing for text that is not XMP", () => {
    expect(parseXmp("")).toEqual({});
    expect(parseXmp("<<<dc:subject>")).toEqual({});
  });
});

describe("iccProfileDescription", () => {
  it("reads a v2 'desc' tag", () => {
    const name = "sRGB IEC61966-2.1\0";
    const profile = Buffer.alloc(144 + 12 + name.length);
    profile.writeUInt32BE(1, 128); // tag count
    profile.write("desc", 132, "latin1"); // tag table: signature, offset, size
    profile.writeUInt32BE(144, 136);
    profile.writeUInt32BE(12 + name.length, 140);
    profile.write("desc", 144, "latin1"); // textDescriptionType: type, reserved, ASCII count, ASCII
    profile.writeUInt32BE(name.length, 152);
    profile.write(name, 156, "latin1");
    expect(iccProfileDescription(profile)).toBe("sRGB IEC61966-2.1");
    expect(iccProfileDescription(profile.subarray(0, 150))).toBeUndefined();
  });
});
