/**
 * A WebP's RIFF chunks by FourCC, for tests that look for metadata where it can live (EXIF and
 * "XMP "): compressed image data can hold any bytes. Throws on a file that is not a whole RIFF/WEBP.
 */
export function webpChunks(webp: Buffer): { type: string; data: Buffer }[] {
  if (webp.toString("latin1", 0, 4) !== "RIFF" || webp.toString("latin1", 8, 12) !== "WEBP") throw new Error("not a RIFF/WEBP file");
  if (webp.readUInt32LE(4) + 8 !== webp.length) throw new Error(`the RIFF size says ${webp.readUInt32LE(4) + 8} bytes, the file has ${webp.length}`);
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 12; at + 8 <= webp.length; ) {
    const size = webp.readUInt32LE(at + 4);
    chunks.push({ type: webp.toString("latin1", at, at + 4), data: webp.subarray(at + 8, at + 8 + size) });
    at += 8 + size + (size % 2);
  }
  return chunks;
}
