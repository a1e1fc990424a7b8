import { open } from "node:fs/promises";
import type { Queryable } from "../db/connect";
import { failedPaths } from "./checkpoint";

/**
 * The failure report: `path,error` for every failed file under the folder, this run's and earlier
 * ones', read from the checkpoint table page by page and written as it goes.
 */

/** A CSV field, quoted when it holds a comma, quote or line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Writes the report to `file`; returns how many failures it lists. */
export async function writeReport(db: Queryable, folder: string, file: string): Promise<number> {
  const handle = await open(file, "w");
  let count = 0;
  try {
    await handle.write("path,error\n");
    let lines: string[] = [];
    for await (const row of failedPaths(db, folder)) {
      count++;
      lines.push(`${csvField(row.sourcePath)},${csvField(row.error ?? "")}\n`);
      if (lines.length >= 500) {
        await handle.write(lines.join(""));
        lines = [];
      }
    }
    await handle.write(lines.join(""));
  } finally {
    await handle.close();
  }
  return count;
}
