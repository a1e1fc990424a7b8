import { createReadStream } from "node:fs";
import { extname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parse } from "csv-parse";
import * as v from "valibot";

/**
 * Reads a migration manifest, CSV (a header row naming the columns) or JSONL (one object per line),
 * as a stream of validated rows: a manifest of millions of rows never sits in memory. Columns:
 * `path` (relative to the migrated folder, or absolute), and optional `title`, `description`,
 * `keywords` (a list in JSONL; in CSV one field separated by `;`, `,` or `|`), `editorial`
 * (true/false, yes/no, 1/0), `category` (a category slug) and, for work under someone else's
 * licence, `credit` (the author line to show), `credit_license` (e.g. CC-BY-SA-4.0) and
 * `credit_source` (where it came from). Any other column is an error, as is a row that breaks the
 * limits uploads have (title 200 characters, keywords 50 of at most 50); errors name the file and line.
 */

export type ManifestRow = {
  /** Absolute path of the file the row describes. */
  sourcePath: string;
  title?: string;
  description?: string;
  keywords?: string[];
  editorial?: boolean;
  category?: string;
  /** Attribution the image's own licence asks for (images.credit). */
  credit?: string;
  creditLicense?: string;
  creditSource?: string;
  /** Line of the file the row ends on (1-based), for messages. */
  line: number;
};

export class ManifestError extends Error {
  override name = "ManifestError";
}

const KEYWORD_SEPARATORS = /[;,|]/;
const TRUE = ["true", "yes", "1"];
const FALSE = ["false", "no", "0"];

const path = v.pipe(v.string("path must be text"), v.trim(), v.nonEmpty("path is empty"));
const text = (name: string, max: number) => v.pipe(v.string(`${name} must be text`), v.trim(), v.maxLength(max, `${name} is longer than ${max} characters`));
const keywordList = v.pipe(
  v.array(v.pipe(v.string("keywords must be text"), v.trim(), v.nonEmpty("a keyword is empty"), v.maxLength(50, "a keyword is longer than 50 characters"))),
  v.maxLength(50, "at most 50 keywords"),
);
const splitKeywords = (field: string) =>
  field
    .split(KEYWORD_SEPARATORS)
    .map((k) => k.trim())
    .filter(Boolean);
const CREDIT_MAX = 300;
const CREDIT_LICENSE_MAX = 100;
const CREDIT_SOURCE_MAX = 2000;
const category = v.pipe(v.string("category must be text"), v.trim(), v.regex(/^[a-z0-9-]{1,40}$/, "category must be a category slug"));

/** One JSONL object; null and absent mean the same. */
const JsonRow = v.strictObject({
  path,
  title: v.nullish(text("title", 200)),
  description: v.nullish(text("description", 5000)),
  keywords: v.nullish(v.union([keywordList, v.pipe(v.string(), v.transform(splitKeywords), keywordList)], "keywords must be a list of text or one text")),
  editorial: v.nullish(v.boolean("editorial must be true or false")),
  category: v.nullish(category),
  credit: v.nullish(text("credit", CREDIT_MAX)),
  credit_license: v.nullish(text("credit_license", CREDIT_LICENSE_MAX)),
  credit_source: v.nullish(text("credit_source", CREDIT_SOURCE_MAX)),
});

/** One CSV record: every field is text; empty fields were dropped before parsing. */
const CsvRow = v.strictObject({
  path,
  title: v.optional(text("title", 200)),
  description: v.optional(text("description", 5000)),
  keywords: v.optional(v.pipe(v.string(), v.transform(splitKeywords), keywordList)),
  editorial: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist([...TRUE, ...FALSE], "editorial must be true or false (yes/no, 1/0)"),
      v.transform((s) => TRUE.includes(s)),
    ),
  ),
  category: v.optional(category),
  credit: v.optional(text("credit", CREDIT_MAX)),
  credit_license: v.optional(text("credit_license", CREDIT_LICENSE_MAX)),
  credit_source: v.optional(text("credit_source", CREDIT_SOURCE_MAX)),
});

type ParsedRow = {
  path: string;
  title?: string | null;
  description?: string | null;
  keywords?: string[] | null;
  editorial?: boolean | null;
  category?: string | null;
  credit?: string | null;
  credit_license?: string | null;
  credit_source?: string | null;
};

function describeIssues(issues: readonly v.BaseIssue<unknown>[], unknownName: string): string {
  return issues
    .map((issue) => {
      const key = v.getDotPath(issue);
      if (issue.input === undefined && key) return `${key} is missing`;
      if (issue.type === "strict_object") return `unknown ${unknownName} ${JSON.stringify(key)}`;
      return issue.message;
    })
    .join("; ");
}

function toRow(parsed: ParsedRow, folder: string, line: number): ManifestRow {
  const row: ManifestRow = { sourcePath: resolve(folder, parsed.path), line };
  if (parsed.title) row.title = parsed.title;
  if (parsed.description) row.description = parsed.description;
  if (parsed.keywords && parsed.keywords.length > 0) row.keywords = parsed.keywords;
  if (parsed.editorial !== null && parsed.editorial !== undefined) row.editorial = parsed.editorial;
  if (parsed.category) row.category = parsed.category;
  if (parsed.credit) row.credit = parsed.credit;
  if (parsed.credit_license) row.creditLicense = parsed.credit_license;
  if (parsed.credit_source) row.creditSource = parsed.credit_source;
  return row;
}

function validated<T extends v.GenericSchema>(schema: T, input: unknown, where: string, unknownName: string): v.InferOutput<T> {
  const result = v.safeParse(schema, input);
  if (!result.success) throw new ManifestError(`${where}: ${describeIssues(result.issues, unknownName)}`);
  return result.output;
}

async function* readCsv(file: string, folder: string): AsyncGenerator<ManifestRow> {
  const parser = createReadStream(file).pipe(parse({ columns: true, bom: true, skip_empty_lines: true, info: true }));
  try {
    for await (const { info, record } of parser as AsyncIterable<{ info: { lines: number }; record: Record<string, string> }>) {
      // An empty field is an absent one, so a manifest may leave any column blank.
      const present = Object.fromEntries(Object.entries(record).filter(([, value]) => value.trim() !== ""));
      yield toRow(validated(CsvRow, present, `${file}:${info.lines}`, "column"), folder, info.lines);
    }
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    const lines = (error as { lines?: number }).lines;
    throw new ManifestError(`${file}${lines ? `:${lines}` : ""}: ${(error as Error).message}`);
  }
}

async function* readJsonl(file: string, folder: string): AsyncGenerator<ManifestRow> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ManifestError(`${file}:${line}: not JSON (${(error as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ManifestError(`${file}:${line}: each line must be a JSON object`);
    yield toRow(validated(JsonRow, value, `${file}:${line}`, "key"), folder, line);
  }
}

/**
 * The manifest's rows in file order, each validated, paths resolved against `folder`. Throws
 * ManifestError naming the file and line at the first bad row.
 *
 * @example
 * for await (const row of readManifest("meta.csv", "/photos")) row.sourcePath; // "/photos/2019/beach.jpg"
 */
export function readManifest(file: string, folder: string): AsyncGenerator<ManifestRow> {
  const kind = extname(file).toLowerCase();
  if (kind === ".csv") return readCsv(file, folder);
  if (kind === ".jsonl" || kind === ".ndjson") return readJsonl(file, folder);
  throw new ManifestError(`${file}: a manifest is a .csv or .jsonl file`);
}
