import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { derivativeKey, originalKey, RENDITIONS, type RenditionName, type UploadContentType } from "../common/images";
import type { DerivativeKeys } from "../db/schema";
import { type ObjectStore, publishRenditions, type StoredRendition, settleAll, storePrivateRenditions } from "../gpu-worker/jobs/image-outputs";
import { cleanOriginal } from "../gpu-worker/pipeline/clean-original";
import type { SniffedFormat } from "../gpu-worker/pipeline/validate";
import type { Limit } from "./limit";
import type { StageClock } from "./stages";

/**
 * Puts a migrated file into R2 through the S3 API: the original (read again from disk, checked
 * against the hash it was analysed with) into the private originals bucket, the renditions' private
 * copies beside it and, for an image the run lists (approved), their public copies in the
 * derivatives bucket, under the same keys a live upload gets. Keys come from the
 * content-derived image id, so a re-run overwrites with the same bytes. Retries (network errors,
 * 5xx, 429) are the S3 client's own, configured for a long run in migrate/main.ts.
 */

const FORMATS: Record<UploadContentType, SniffedFormat> = { "image/jpeg": "jpeg", "image/png": "png", "image/tiff": "tiff", "image/webp": "webp", "image/avif": "avif" };

export type UploadTarget = { originalsBucket: string; derivativesBucket: string; contributorId: string };

export type UploadableFile = {
  path: string;
  imageId: string;
  sha256: string;
  contentType: UploadContentType;
  renditions: StoredRendition[];
  /** Listed by this run (approved): the renditions are public too. Anything else waits for a moderator's approval. */
  listed: boolean;
};

/** Where an image's renditions are, by name: the same keys whether this run uploaded them or an earlier one did. */
export function derivativeKeysFor(imageId: string): DerivativeKeys {
  return Object.fromEntries((Object.keys(RENDITIONS) as RenditionName[]).map((name) => [name, derivativeKey(imageId, name)]));
}

/**
 * Uploads the original and the renditions, at most `limit` requests at a time (timed as the upload
 * stage while they hold a slot, not while they wait for one). Throws when one keeps failing.
 */
export async function uploadFile(store: ObjectStore, limit: Limit, clock: StageClock, target: UploadTarget, file: UploadableFile): Promise<void> {
  const slot = <T>(work: () => Promise<T>) => limit(() => clock.time("upload", work));
  const putOriginal = slot(async () => {
    // Cleaned of GPS and serial numbers as a live upload is; the hash is the cleaned file's.
    const bytes = cleanOriginal(await readFile(file.path), FORMATS[file.contentType]).bytes;
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    if (sha256 !== file.sha256) throw new Error("the file changed while it was being migrated (its SHA-256 differs from the analysed one)");
    const key = originalKey(target.contributorId, file.imageId, file.contentType);
    await store.putObject(target.originalsBucket, key, bytes, { contentType: file.contentType });
  });
  // Each write takes an upload slot; the private and public copies follow the live job's rules.
  const limited: Pick<ObjectStore, "putObject"> = { putObject: (bucket, key, body, options) => slot(() => store.putObject(bucket, key, body, options)) };
  await settleAll([
    putOriginal,
    storePrivateRenditions(limited, target, file.imageId, file.renditions),
    file.listed ? publishRenditions(limited, target, file.imageId, file.renditions) : Promise.resolve(),
  ]);
}
