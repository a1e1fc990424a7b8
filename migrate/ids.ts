import { createHash } from "node:crypto";

/**
 * Image ids of migrated files, derived from their content: the same file yields the same id on
 * every run, so a run killed after uploading writes the same object keys (and, the pipeline being
 * deterministic, the same bytes) when it is started again, and inserting the row twice is a no-op.
 */

const NAMESPACE = "edgestock-migration:";

/**
 * A UUID from the first 16 bytes of SHA-256("edgestock-migration:" + the file's SHA-256 in hex),
 * with version 8 (RFC 9562 custom) and the RFC 4122 variant bits.
 *
 * @example imageIdFor("e3b0c442...b855") // "xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx", always the same
 */
export function imageIdFor(sha256Hex: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256Hex)) throw new RangeError(`not a lower-case hex SHA-256: ${JSON.stringify(sha256Hex)}`);
  const bytes = createHash("sha256")
    .update(NAMESPACE + sha256Hex)
    .digest()
    .subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
