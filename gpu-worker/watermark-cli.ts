import { readFile } from "node:fs/promises";
import { detectWatermark } from "./pipeline/invisible-watermark";

/**
 * Reads the invisible watermark of image files (`bun gpu-worker/watermark-cli.ts [--json] <file>...`).
 * Prints `<file>\t<uuid>` or `<file>\tnone` per file, or with `--json` one array of
 * `{ file, imageId }` (imageId null when none). Exit 0 when every file was read (marked or not),
 * 1 when any could not be read or decoded, 2 on usage errors.
 */
const args = process.argv.slice(2);
const json = args.includes("--json");
const files = args.filter((a) => a !== "--json");
if (files.length === 0 || files.some((f) => f.startsWith("--"))) {
  console.error("usage: bun gpu-worker/watermark-cli.ts [--json] <file> [<file>...]");
  process.exit(2);
}

const results: Array<{ file: string; imageId: string | null }> = [];
let failed = false;
for (const file of files) {
  try {
    const imageId = await detectWatermark(await readFile(file));
    results.push({ file, imageId });
    if (!json) console.log(`${file}\t${imageId ?? "none"}`);
  } catch (error) {
    failed = true;
    console.error(`${file}: ${(error as Error).message}`);
  }
}
// The command's own output, not a log line: written as it is, and the process ends once it is flushed.
if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
process.exitCode = failed ? 1 : 0;
