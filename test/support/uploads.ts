import sharp from "sharp";
import { originalKey, uploadKey } from "../../common/images";
import type { Database } from "../../db/connect";
import { images } from "../../db/schema";
import type { ObjectStore } from "../../gpu-worker/jobs/image-outputs";

/** A JPEG nobody else has: a gradient with seeded noise (640x420, q85). */
export async function noisyPhoto(seed: number): Promise<Buffer> {
  const width = 640;
  const height = 420;
  const data = Buffer.alloc(width * height * 3);
  let state = seed * 2654435761;
  for (let i = 0; i < data.length; i += 3) {
    state = (state * 1103515245 + 12345) >>> 0;
    const x = (i / 3) % width;
    data[i] = (x * 255) / width;
    data[i + 1] = (state >>> 16) & 0xff;
    data[i + 2] = 120 + (seed % 100);
  }
  return sharp(data, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** An image whose upload has landed and whose job is queued, as the edge leaves it; returns its id. */
export async function queuedUpload(
  db: Database,
  store: Pick<ObjectStore, "putObject">,
  options: { contributorId: string; seed: number; originalsBucket: string },
): Promise<string> {
  const id = crypto.randomUUID();
  const { contributorId, seed } = options;
  await db.insert(images).values({
    id,
    contributorId,
    title: `photo ${seed}`,
    status: "processing",
    stage: "queued",
    declaredContentType: "image/jpeg",
    originalKey: originalKey(contributorId, id, "image/jpeg"),
  });
  await store.putObject(options.originalsBucket, uploadKey(contributorId, id, "image/jpeg"), await noisyPhoto(seed), { contentType: "image/jpeg" });
  return id;
}
