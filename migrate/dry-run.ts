import { open } from "node:fs/promises";
import { TransactionRollbackError } from "drizzle-orm";
import type { Database } from "../db/connect";
import { sniffFormat } from "../gpu-worker/pipeline/validate";
import { batchesOf } from "./batches";
import { readCheckpoints } from "./checkpoint";
import { readManifest } from "./manifest";
import { loadManifest, manifestFor } from "./manifest-store";
import { walkImages } from "./walk";

/**
 * `--dry-run`: walks the folder, checks each file's type from its first bytes, matches the
 * manifest and the checkpoints, and says what a run would do. It writes nothing: the manifest is
 * loaded and looked up inside one transaction that is rolled back at the end.
 */

export type DryRunResult = {
  files: number;
  /** New files and files an interrupted run left half done. */
  wouldProcess: number;
  alreadyDone: number;
  failedEarlier: number;
  /** Not a JPEG, PNG, TIFF, WebP or AVIF by its signature (or empty). */
  unsupported: number;
  unsupportedExamples: string[];
  manifestRows: number;
  /** Files the manifest has a row for. */
  withManifestRow: number;
};

const EXAMPLES = 20;
const HEADER_BYTES = 16;

async function header(path: string): Promise<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const buffer = new Uint8Array(HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEADER_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export async function dryRun(db: Database, folder: string, manifestFile: string | undefined, knownCategories: ReadonlySet<string>): Promise<DryRunResult> {
  const result: DryRunResult = { files: 0, wouldProcess: 0, alreadyDone: 0, failedEarlier: 0, unsupported: 0, unsupportedExamples: [], manifestRows: 0, withManifestRow: 0 };
  try {
    await db.transaction(async (tx) => {
      if (manifestFile) result.manifestRows = await loadManifest(tx, manifestFile, readManifest(manifestFile, folder), knownCategories);
      for await (const paths of batchesOf(walkImages(folder, { onUnreadable: () => {} }), 500)) {
        const checkpoints = await readCheckpoints(tx, paths);
        const manifest = manifestFile ? await manifestFor(tx, paths) : new Map();
        for (const path of paths) {
          result.files++;
          if (manifest.has(path)) result.withManifestRow++;
          const stage = checkpoints.get(path)?.stage;
          if (stage === "indexed") result.alreadyDone++;
          else if (stage === "failed") result.failedEarlier++;
          else if (sniffFormat(await header(path).catch(() => new Uint8Array())) === null) {
            result.unsupported++;
            if (result.unsupportedExamples.length < EXAMPLES) result.unsupportedExamples.push(path);
          } else result.wouldProcess++;
        }
      }
      tx.rollback();
    });
  } catch (error) {
    if (!(error instanceof TransactionRollbackError)) throw error;
  }
  return result;
}

export function formatDryRun(folder: string, result: DryRunResult): string {
  const lines = [
    `dry run over ${folder}: ${result.files} image file(s)`,
    `  would process:     ${result.wouldProcess}`,
    `  already done:      ${result.alreadyDone}`,
    `  failed earlier:    ${result.failedEarlier} (--retry-failed re-runs them)`,
    `  unsupported:       ${result.unsupported} (not JPEG, PNG, TIFF, WebP or AVIF by content; they would fail)`,
    ...result.unsupportedExamples.map((path) => `    ${path}`),
  ];
  if (result.manifestRows > 0 || result.withManifestRow > 0) lines.push(`  manifest:          ${result.manifestRows} row(s), ${result.withManifestRow} matching a file`);
  lines.push("nothing was written");
  return lines.join("\n");
}
