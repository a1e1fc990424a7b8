import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import * as v from "valibot";

/**
 * The command line of `bun run migrate`, parsed with node:util and checked with valibot. Errors
 * throw UsageError (the command exits 2 with the usage text).
 */

export const USAGE = `usage: bun run migrate <folder> --contributor <user id or email> [options]

  --manifest <file>            titles, descriptions, keywords per file (.csv with a header row, or .jsonl)
  --contributor <id|email>     the existing contributor (or admin) the images are listed under (required)
  --concurrency <n>            analysis threads (default: the number of cores)
  --batch <n>                  images per ML batch and per database transaction, 1-64 (default 32)
  --upload-concurrency <n>     requests to R2 at once (default 8)
  --dry-run                    say what would be done; write nothing
  --retry-failed               re-run only the files that failed earlier under <folder> (no walk)
  --no-ml                      no NSFW score, embedding or AI tags (images wait for review)
  --defer-index                drop the embedding index for the run and build it at the end
  --report <file>              failures as CSV (default migration-report-<timestamp>.csv)
  --summary-json <file>        also write the final summary as JSON`;

export class UsageError extends Error {
  override name = "UsageError";
}

const count = (name: string, fallback: string, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.transform(Number),
    v.integer(`--${name} must be a whole number`),
    v.minValue(min, `--${name} must be at least ${min}`),
    v.maxValue(max, `--${name} must be at most ${max}`),
  );

const Flags = v.object({
  folder: v.pipe(v.string("the folder to migrate is missing"), v.nonEmpty("the folder to migrate is missing")),
  manifest: v.optional(v.pipe(v.string(), v.nonEmpty())),
  contributor: v.pipe(v.string("--contributor is required"), v.trim(), v.nonEmpty("--contributor is required")),
  concurrency: count("concurrency", String(availableParallelism()), 1, 256),
  batch: count("batch", "32", 1, 64),
  uploadConcurrency: count("upload-concurrency", "8", 1, 256),
  dryRun: v.boolean(),
  retryFailed: v.boolean(),
  ml: v.boolean(),
  deferIndex: v.boolean(),
  report: v.optional(v.pipe(v.string(), v.nonEmpty())),
  summaryJson: v.optional(v.pipe(v.string(), v.nonEmpty())),
});

export type MigrateArgs = v.InferOutput<typeof Flags>;

/** The options from `argv` (without the runtime and script), or null when --help was asked for. */
export function parseMigrateArgs(argv: string[]): MigrateArgs | null {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        manifest: { type: "string" },
        contributor: { type: "string" },
        concurrency: { type: "string" },
        batch: { type: "string" },
        "upload-concurrency": { type: "string" },
        "dry-run": { type: "boolean", default: false },
        "retry-failed": { type: "boolean", default: false },
        "no-ml": { type: "boolean", default: false },
        "defer-index": { type: "boolean", default: false },
        report: { type: "string" },
        "summary-json": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length > 1) throw new UsageError(`one folder at a time (got ${positionals.length})`);
  const result = v.safeParse(Flags, {
    folder: positionals[0],
    manifest: values.manifest,
    contributor: values.contributor,
    concurrency: values.concurrency,
    batch: values.batch,
    uploadConcurrency: values["upload-concurrency"],
    dryRun: values["dry-run"],
    retryFailed: values["retry-failed"],
    ml: !values["no-ml"],
    deferIndex: values["defer-index"],
    report: values.report,
    summaryJson: values["summary-json"],
  });
  if (!result.success) throw new UsageError(result.issues.map((issue) => issue.message).join("; "));
  return result.output;
}
