import { S3Client } from "../../common/s3";
import type { Config } from "../config";

/**
 * The S3 client for R2's S3 API (presigned uploads and downloads, multipart uploads), signed with
 * the R2 token. `fetch` replaces the network: the local entry (edge/local.ts) passes the in-process
 * /_local/s3 stand-in, since a Worker cannot fetch itself over the network in tests.
 */
export function r2Client(config: Pick<Config, "s3Endpoint" | "R2_ACCESS_KEY_ID" | "R2_SECRET_ACCESS_KEY">, fetch?: typeof globalThis.fetch): S3Client {
  return new S3Client({
    endpoint: config.s3Endpoint,
    accessKeyId: config.R2_ACCESS_KEY_ID,
    secretAccessKey: config.R2_SECRET_ACCESS_KEY,
    ...(fetch ? { fetch } : {}),
  });
}
