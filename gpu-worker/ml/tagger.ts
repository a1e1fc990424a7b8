import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { endianness } from "node:os";
import { join, resolve } from "node:path";
import * as v from "valibot";
import type { ClipModel } from "./clip";

/**
 * Zero-shot AI tags and categories from CLIP embeddings.
 *
 * At start the tagger embeds every vocabulary keyword and every category prompt once with the CLIP text
 * encoder and keeps them as two flat row-major Float32Array matrices; tagging an image is then one pass of
 * dot products against its (already computed) image embedding. The matrices are cached on disk keyed by
 * model id + version + vocabulary, templates and category prompts, so a restart reads ~6 MB instead of
 * re-running the text encoder over ~6,000 prompts.
 *
 * Prompts. Each keyword is embedded with two templates, {@link TAG_PROMPT_TEMPLATES}, whose unit embeddings
 * are averaged and re-normalised (CLIP's prompt ensembling in embedding space; a bare keyword is a worse
 * query than "a photo of …", and two contexts smooth out the wording of either). Each category is the
 * normalised mean of its 3–6 prompts in `data/categories.json`.
 *
 * Tags: a per-image z-score cut-off. Raw cosine similarities are not probabilities, and their mean and
 * spread vary from image to image and between models, so no fixed cosine threshold transfers. The tagger standardises each image's similarities
 * over the whole vocabulary, `z = (s − mean) / std`, keeps tags with `z ≥ k` (at most `maxTags`, best
 * first) and reports `confidence = 1 / (1 + exp(−slope · (z − k)))`: 0.5 at the cut-off, rising with every
 * standard deviation above it. z is invariant to the embedding's scale and to a shift of all similarities,
 * which is exactly the per-image and per-model drift. A softmax over the vocabulary (CLIP's zero-shot rule)
 * is not used for tags: it splits probability mass between near-synonyms ("dog", "puppy", "labrador"), so a
 * richer vocabulary would lower every confidence; it is the right rule for the few, mutually exclusive
 * categories (below).
 *
 * `k` and `slope` default to {@link DEFAULT_Z_THRESHOLD} and {@link DEFAULT_CONFIDENCE_SLOPE}, which are
 * starting values, not measurements: no CLIP weights can be downloaded where this was written, so the
 * calibration has only run on synthetic embeddings (test/worker/tagger.test.ts). Calibrate them once per
 * model on a few hundred images with human keywords from the vocabulary — `bun scripts/calibrate-tagger.ts
 * <clip-model-dir> <labels.json>` runs {@link Tagger.calibrateThreshold}, which picks the k with the best
 * micro-F1 and the maximum-likelihood slope — and pass the result as `zThreshold` / `confidenceSlope`.
 *
 * Categories: softmax over the category vectors with CLIP's logit scale (100), i.e. CLIP zero-shot
 * classification. The best category is always returned; the runner-up too when its probability is at least
 * `secondCategoryRatio` (default 0.5) of the best one's, which at logit scale 100 means its cosine is within
 * ln 2 / 100 ≈ 0.0069 of the best. Confidence is the softmax probability.
 */

/** Templates each keyword is embedded with; `{}` is the keyword. Changing them invalidates the cache. */
export const TAG_PROMPT_TEMPLATES = ["a photo of {}.", "a stock photo of {}."] as const;
/** Tags per image at most. */
export const DEFAULT_MAX_TAGS = 30;
/** Uncalibrated default z-score cut-off `k`: a tag needs a similarity ≥ mean + 3 std over the vocabulary. */
export const DEFAULT_Z_THRESHOLD = 3;
/** Uncalibrated default slope of the z → confidence logistic (one std above the cut-off → 0.82). */
export const DEFAULT_CONFIDENCE_SLOPE = 1.5;
/** CLIP's logit scale: trained as exp(t) with t clamped at ln 100; OpenAI's released models sit at the clamp. */
export const CLIP_LOGIT_SCALE = 100;
/** The runner-up category is returned when its probability is at least this share of the best one's. */
export const DEFAULT_SECOND_CATEGORY_RATIO = 0.5;
/** Texts per `embedTexts` call while building the matrices. */
export const TEXT_BATCH_SIZE = 64;

export const DEFAULT_VOCABULARY_PATH = resolve(import.meta.dirname, "data/tag-vocabulary.txt");
export const DEFAULT_CATEGORIES_PATH = resolve(import.meta.dirname, "data/categories.json");

/** Bumped when the cache files' layout or the embedding recipe changes. */
const CACHE_FORMAT = 1;

/** The part of a CLIP model the tagger needs: its identity and the text encoder. */
export type TaggerTextEncoder = Pick<ClipModel, "modelId" | "version" | "embedDim" | "embedTexts">;

export interface TaggerOptions {
  /** One lower-case keyword per line (default `data/tag-vocabulary.txt`). */
  vocabularyPath?: string;
  /** `{ "<slug>": ["prompt", ...] }` (default `data/categories.json`). */
  categoriesPath?: string;
  /** Only these slugs may be returned (e.g. the rows of the `categories` table); each needs prompts. Default: all in the file. */
  categorySlugs?: readonly string[];
  /** Where the embedded matrices are cached; without it every start re-embeds. Files for other keys are left in place. */
  cacheDir?: string;
  /** Default {@link DEFAULT_MAX_TAGS}. */
  maxTags?: number;
  /** The z-score cut-off `k`; default {@link DEFAULT_Z_THRESHOLD}. */
  zThreshold?: number;
  /** Default {@link DEFAULT_CONFIDENCE_SLOPE}. */
  confidenceSlope?: number;
  /** Default {@link DEFAULT_SECOND_CATEGORY_RATIO}. */
  secondCategoryRatio?: number;
  /** Default {@link CLIP_LOGIT_SCALE}. */
  logitScale?: number;
  log?: (message: string, details?: Record<string, unknown>) => void;
}

export interface TagScore {
  tag: string;
  /** In (0, 1): 0.5 at the z cut-off. */
  confidence: number;
}

export interface CategoryScore {
  slug: string;
  /** Softmax probability over the categories. */
  confidence: number;
}

export interface TaggingResult {
  /** At most `maxTags`, highest confidence first. */
  tags: TagScore[];
  /** One, or two when the runner-up is close (see the module comment). */
  categories: CategoryScore[];
}

/** Per-call overrides, for calibration runs and experiments. */
export interface TagOptions {
  maxTags?: number;
  zThreshold?: number;
}

/** An image embedding with the keywords a person gave it. */
export interface LabelledEmbedding {
  embedding: Float32Array;
  expectedTags: readonly string[];
}

export interface CalibrationResult {
  /** The cut-off `k` with the best micro-averaged F1 (midway between the last kept and first dropped z). */
  zThreshold: number;
  /** Maximum-likelihood slope of `confidence = σ(slope · (z − k))` on the candidates, within [0.1, 10]. */
  confidenceSlope: number;
  f1: number;
  precision: number;
  recall: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  images: number;
  /** Expected tags that are not in the vocabulary: left out of the counts (a vocabulary gap, not a threshold one). */
  unknownTags: string[];
}

export interface Tagger {
  readonly modelId: string;
  readonly version: string;
  readonly embedDim: number;
  readonly vocabulary: readonly string[];
  /** The categories `tag()` chooses from, in file order. */
  readonly categorySlugs: readonly string[];
  /** Whether this instance read its matrices from the cache or ran the text encoder. */
  readonly source: "cache" | "embedded";
  readonly zThreshold: number;
  readonly confidenceSlope: number;
  readonly maxTags: number;
  /** Tags above the cut-off and one or two categories for an image embedding of `embedDim` floats. */
  tag(imageEmbedding: Float32Array, options?: TagOptions): TaggingResult;
  /** The per-tag z-scores `tag()` thresholds, in vocabulary order. */
  zScores(imageEmbedding: Float32Array): Float64Array;
  /** The ensembled, unit-length text embedding of a vocabulary keyword (a view into the matrix; do not modify). */
  tagEmbedding(tag: string): Float32Array | undefined;
  /** The unit-length mean of a category's prompt embeddings (a view; do not modify). */
  categoryEmbedding(slug: string): Float32Array | undefined;
  /** Picks `k` (max micro-F1, honouring `maxTags`) and the confidence slope from labelled images. */
  calibrateThreshold(pairs: readonly LabelledEmbedding[]): CalibrationResult;
}

const CategoriesSchema = v.pipe(
  v.record(
    v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]*$/, "category slugs are lower-case kebab-case")),
    v.pipe(v.array(v.pipe(v.string(), v.trim(), v.nonEmpty("empty prompt"))), v.minLength(1, "needs at least one prompt")),
  ),
  v.check((record) => Object.keys(record).length > 0, "no categories"),
);

const CacheHeaderSchema = v.object({
  format: v.literal(CACHE_FORMAT),
  modelId: v.string(),
  version: v.string(),
  embedDim: v.number(),
  endianness: v.string(),
  templates: v.array(v.string()),
  vocabularySha256: v.string(),
  categoriesSha256: v.string(),
  tagCount: v.number(),
  categoryCount: v.number(),
  dataSha256: v.string(),
});
type CacheHeader = v.InferOutput<typeof CacheHeaderSchema>;

/** Reads and checks a vocabulary file: one keyword per line, trimmed, lower-case, unique; blank lines skipped. */
export async function loadVocabulary(path: string = DEFAULT_VOCABULARY_PATH): Promise<string[]> {
  const text = await readFile(path, "utf8");
  const seen = new Set<string>();
  const tags: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const tag = raw.trim().replace(/\s+/g, " ");
    if (tag === "") return;
    if (tag !== tag.toLowerCase()) throw new Error(`${path}:${index + 1}: "${tag}" is not lower-case`);
    if (seen.has(tag)) throw new Error(`${path}:${index + 1}: "${tag}" is listed twice`);
    seen.add(tag);
    tags.push(tag);
  });
  if (tags.length === 0) throw new Error(`${path}: the vocabulary is empty`);
  return tags;
}

/** Reads and checks a categories file: `{ slug: [prompt, ...] }`, in file order. */
export async function loadCategoryPrompts(path: string = DEFAULT_CATEGORIES_PATH): Promise<Map<string, string[]>> {
  const result = v.safeParse(CategoriesSchema, JSON.parse(await readFile(path, "utf8")));
  if (!result.success) {
    const issues = result.issues.map((issue) => `${v.getDotPath(issue) ?? "(root)"}: ${issue.message}`).join("; ");
    throw new Error(`${path}: ${issues}`);
  }
  return new Map(Object.entries(result.output));
}

/**
 * Builds a tagger for one CLIP model: loads the vocabulary and category prompts, then reads the embedded
 * matrices from `cacheDir` or embeds them (batches of {@link TEXT_BATCH_SIZE}) and writes the cache.
 *
 * @example
 * const clip = await loadClipModel(".data/models/clip/ViT-B-32__openai");
 * const slugs = (await db.select({ slug: categories.slug }).from(categories)).map((row) => row.slug);
 * const tagger = await createTagger(clip, { cacheDir: ".data/cache/tagger", categorySlugs: slugs });
 * const { tags, categories: filed } = tagger.tag(await clip.embedImage(analysed.working));
 */
export async function createTagger(clip: TaggerTextEncoder, options: TaggerOptions = {}): Promise<Tagger> {
  const maxTags = options.maxTags ?? DEFAULT_MAX_TAGS;
  const zThreshold = options.zThreshold ?? DEFAULT_Z_THRESHOLD;
  const confidenceSlope = options.confidenceSlope ?? DEFAULT_CONFIDENCE_SLOPE;
  const secondCategoryRatio = options.secondCategoryRatio ?? DEFAULT_SECOND_CATEGORY_RATIO;
  const logitScale = options.logitScale ?? CLIP_LOGIT_SCALE;
  assertMaxTags(maxTags);
  if (!Number.isFinite(zThreshold)) throw new RangeError(`zThreshold must be finite, got ${zThreshold}`);
  if (!(confidenceSlope > 0) || !Number.isFinite(confidenceSlope)) throw new RangeError(`confidenceSlope must be > 0, got ${confidenceSlope}`);
  if (!(secondCategoryRatio > 0 && secondCategoryRatio <= 1)) throw new RangeError(`secondCategoryRatio must be in (0, 1], got ${secondCategoryRatio}`);
  if (!(logitScale > 0) || !Number.isFinite(logitScale)) throw new RangeError(`logitScale must be > 0, got ${logitScale}`);
  const dim = clip.embedDim;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`${clip.modelId}: embedDim must be a positive integer, got ${dim}`);

  const vocabularyPath = options.vocabularyPath ?? DEFAULT_VOCABULARY_PATH;
  const categoriesPath = options.categoriesPath ?? DEFAULT_CATEGORIES_PATH;
  const vocabulary = await loadVocabulary(vocabularyPath);
  const prompts = await loadCategoryPrompts(categoriesPath);
  const fileSlugs = [...prompts.keys()];
  const withoutPrompts = (options.categorySlugs ?? []).filter((slug) => !prompts.has(slug));
  if (withoutPrompts.length > 0) throw new Error(`categories without prompts in ${categoriesPath}: ${withoutPrompts.join(", ")}`);
  const categorySlugs = options.categorySlugs === undefined ? fileSlugs : fileSlugs.filter((slug) => options.categorySlugs?.includes(slug));
  if (categorySlugs.length === 0) throw new Error("createTagger: categorySlugs selects no category");

  const material: CacheMaterial = {
    format: CACHE_FORMAT,
    modelId: clip.modelId,
    version: clip.version,
    embedDim: dim,
    endianness: endianness(),
    templates: [...TAG_PROMPT_TEMPLATES],
    vocabularySha256: sha256(vocabulary.join("\n")),
    categoriesSha256: sha256(JSON.stringify([...prompts])),
  };
  const log = options.log;

  let matrices: { tags: Float32Array; categories: Float32Array } | undefined;
  let cacheFiles: { header: string; data: string } | undefined;
  if (options.cacheDir !== undefined) {
    const key = sha256(JSON.stringify(material)).slice(0, 16);
    const base = join(resolve(options.cacheDir), `tagger-${clip.modelId.replace(/[^A-Za-z0-9._-]+/g, "_")}-${key}`);
    cacheFiles = { header: `${base}.json`, data: `${base}.f32` };
    matrices = await readCache(cacheFiles, material, vocabulary.length, fileSlugs.length, dim, log);
  }
  const source = matrices === undefined ? "embedded" : "cache";
  if (matrices === undefined) {
    const started = performance.now();
    matrices = await embedMatrices(clip, vocabulary, prompts);
    log?.(`tagger: embedded ${vocabulary.length} tags and ${fileSlugs.length} categories with ${clip.modelId}`, { ms: Math.round(performance.now() - started) });
    if (cacheFiles !== undefined) await writeCache(cacheFiles, material, matrices, vocabulary.length, fileSlugs.length, log);
  } else {
    log?.(`tagger: read ${vocabulary.length} tag and ${fileSlugs.length} category embeddings from the cache`, { file: cacheFiles?.data });
  }

  // The cache holds every category in the file; the allowed ones are copied out so scoring stays one flat loop.
  const categoryMatrix = new Float32Array(categorySlugs.length * dim);
  categorySlugs.forEach((slug, row) => {
    const from = fileSlugs.indexOf(slug);
    categoryMatrix.set(matrices.categories.subarray(from * dim, (from + 1) * dim), row * dim);
  });

  const tagMatrix = matrices.tags;
  const tagCount = vocabulary.length;
  const tagIndex = new Map(vocabulary.map((tag, i) => [tag, i]));
  const similarities = new Float64Array(tagCount);
  const categoryLogits = new Float64Array(categorySlugs.length);

  const checkEmbedding = (embedding: Float32Array): number => {
    if (!(embedding instanceof Float32Array) || embedding.length !== dim) {
      throw new RangeError(`tagger (${clip.modelId}): expected a Float32Array of ${dim} floats, got ${embedding?.length ?? typeof embedding}`);
    }
    let squares = 0;
    for (let i = 0; i < dim; i++) squares += (embedding[i] as number) * (embedding[i] as number);
    const norm = Math.sqrt(squares);
    if (!(norm > 0) || !Number.isFinite(norm)) throw new RangeError(`tagger (${clip.modelId}): the image embedding is zero or not finite`);
    return norm;
  };

  /** Fills `similarities` and returns their mean and standard deviation over the vocabulary. */
  const scoreVocabulary = (embedding: Float32Array): { mean: number; std: number } => {
    dotRows(tagMatrix, tagCount, dim, embedding, similarities);
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < tagCount; i++) {
      const s = similarities[i] as number;
      sum += s;
      squares += s * s;
    }
    const mean = sum / tagCount;
    return { mean, std: Math.sqrt(Math.max(0, squares / tagCount - mean * mean)) };
  };

  const tagger: Tagger = {
    modelId: clip.modelId,
    version: clip.version,
    embedDim: dim,
    vocabulary,
    categorySlugs,
    source,
    zThreshold,
    confidenceSlope,
    maxTags,
    tag(imageEmbedding, callOptions = {}) {
      const norm = checkEmbedding(imageEmbedding);
      const limit = callOptions.maxTags ?? maxTags;
      const k = callOptions.zThreshold ?? zThreshold;
      assertMaxTags(limit);

      const { mean, std } = scoreVocabulary(imageEmbedding);
      const tags: TagScore[] = [];
      // A (near-)constant similarity row carries no ranking: no tag stands out.
      if (std > 1e-9 * Math.max(1, Math.abs(mean))) {
        const cut = mean + k * std;
        const kept: number[] = [];
        for (let i = 0; i < tagCount; i++) if ((similarities[i] as number) >= cut) kept.push(i);
        kept.sort((a, b) => (similarities[b] as number) - (similarities[a] as number) || a - b);
        for (const i of kept.slice(0, limit)) {
          const z = ((similarities[i] as number) - mean) / std;
          tags.push({ tag: vocabulary[i] as string, confidence: 1 / (1 + Math.exp(-confidenceSlope * (z - k))) });
        }
      }

      dotRows(categoryMatrix, categorySlugs.length, dim, imageEmbedding, categoryLogits);
      let best = -Infinity;
      for (let c = 0; c < categoryLogits.length; c++) {
        categoryLogits[c] = (logitScale * (categoryLogits[c] as number)) / norm;
        best = Math.max(best, categoryLogits[c] as number);
      }
      let total = 0;
      for (let c = 0; c < categoryLogits.length; c++) {
        categoryLogits[c] = Math.exp((categoryLogits[c] as number) - best);
        total += categoryLogits[c] as number;
      }
      const ranked = categorySlugs.map((slug, c) => ({ slug, confidence: (categoryLogits[c] as number) / total })).sort((a, b) => b.confidence - a.confidence);
      const [first, second] = ranked as [CategoryScore, CategoryScore | undefined];
      const categories = second !== undefined && second.confidence >= secondCategoryRatio * first.confidence ? [first, second] : [first];
      return { tags, categories };
    },
    zScores(imageEmbedding) {
      checkEmbedding(imageEmbedding);
      const { mean, std } = scoreVocabulary(imageEmbedding);
      const z = new Float64Array(tagCount);
      if (std > 0) for (let i = 0; i < tagCount; i++) z[i] = ((similarities[i] as number) - mean) / std;
      return z;
    },
    tagEmbedding(tag) {
      const i = tagIndex.get(tag);
      return i === undefined ? undefined : tagMatrix.subarray(i * dim, (i + 1) * dim);
    },
    categoryEmbedding(slug) {
      const c = categorySlugs.indexOf(slug);
      return c === -1 ? undefined : categoryMatrix.subarray(c * dim, (c + 1) * dim);
    },
    calibrateThreshold(pairs) {
      return calibrate(tagger, tagIndex, pairs);
    },
  };
  return tagger;
}

function assertMaxTags(maxTags: number): void {
  if (!Number.isInteger(maxTags) || maxTags < 0) throw new RangeError(`maxTags must be a non-negative integer, got ${maxTags}`);
}

const sha256 = (text: string | Uint8Array): string => createHash("sha256").update(text).digest("hex");

/**
 * `out[r] = rows[r] · vector` for a row-major matrix. Four independent accumulators let the JIT overlap the
 * multiply-adds; this loop is the whole cost of tagging (≈ 1.5 M multiply-adds for 2,900 tags × 512).
 */
function dotRows(rows: Float32Array, count: number, dim: number, vector: Float32Array, out: Float64Array): void {
  const tail = dim - (dim % 4);
  for (let r = 0, base = 0; r < count; r++, base += dim) {
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let i = 0;
    for (; i < tail; i += 4) {
      a += (rows[base + i] as number) * (vector[i] as number);
      b += (rows[base + i + 1] as number) * (vector[i + 1] as number);
      c += (rows[base + i + 2] as number) * (vector[i + 2] as number);
      d += (rows[base + i + 3] as number) * (vector[i + 3] as number);
    }
    for (; i < dim; i++) a += (rows[base + i] as number) * (vector[i] as number);
    out[r] = a + b + c + d;
  }
}

/** Adds the unit-length version of `source` into `target`, after checking it is a finite vector of `dim` floats. */
function accumulate(target: Float64Array, source: Float32Array | undefined, dim: number, what: string): void {
  if (!(source instanceof Float32Array) || source.length !== dim)
    throw new Error(`tagger: the text encoder returned ${source?.length ?? "no"} floats for ${what}, expected ${dim}`);
  let squares = 0;
  for (let i = 0; i < dim; i++) squares += (source[i] as number) * (source[i] as number);
  const norm = Math.sqrt(squares);
  if (!(norm > 0) || !Number.isFinite(norm)) throw new Error(`tagger: the text embedding of ${what} is zero or not finite`);
  for (let i = 0; i < dim; i++) target[i] = (target[i] as number) + (source[i] as number) / norm;
}

/** Writes the unit-length version of `sum` into `matrix` row `row`. */
function writeNormalisedRow(matrix: Float32Array, row: number, sum: Float64Array): void {
  let squares = 0;
  for (const x of sum) squares += x * x;
  const norm = Math.sqrt(squares) || 1;
  for (let i = 0; i < sum.length; i++) matrix[row * sum.length + i] = (sum[i] as number) / norm;
}

async function embedMatrices(
  clip: TaggerTextEncoder,
  vocabulary: readonly string[],
  prompts: ReadonlyMap<string, readonly string[]>,
): Promise<{ tags: Float32Array; categories: Float32Array }> {
  const dim = clip.embedDim;
  // Each distinct text once, with the rows it contributes to (a category prompt can equal a keyword's prompt).
  const uses = new Map<string, { matrix: "tags" | "categories"; row: number }[]>();
  const use = (text: string, matrix: "tags" | "categories", row: number) => {
    const list = uses.get(text);
    if (list === undefined) uses.set(text, [{ matrix, row }]);
    else list.push({ matrix, row });
  };
  vocabulary.forEach((tag, row) => {
    for (const template of TAG_PROMPT_TEMPLATES) use(template.replace("{}", tag), "tags", row);
  });
  [...prompts.values()].forEach((list, row) => {
    for (const text of list) use(text, "categories", row);
  });

  const texts = [...uses.keys()];
  const sums = { tags: new Float64Array(vocabulary.length * dim), categories: new Float64Array(prompts.size * dim) };
  for (let start = 0; start < texts.length; start += TEXT_BATCH_SIZE) {
    const batch = texts.slice(start, start + TEXT_BATCH_SIZE);
    const embeddings = await clip.embedTexts(batch);
    if (embeddings.length !== batch.length) throw new Error(`tagger: the text encoder returned ${embeddings.length} embeddings for ${batch.length} texts`);
    batch.forEach((text, i) => {
      for (const { matrix, row } of uses.get(text) ?? []) accumulate(sums[matrix].subarray(row * dim, (row + 1) * dim), embeddings[i], dim, `"${text}"`);
    });
  }

  const tags = new Float32Array(vocabulary.length * dim);
  const categories = new Float32Array(prompts.size * dim);
  for (let row = 0; row < vocabulary.length; row++) writeNormalisedRow(tags, row, sums.tags.subarray(row * dim, (row + 1) * dim));
  for (let row = 0; row < prompts.size; row++) writeNormalisedRow(categories, row, sums.categories.subarray(row * dim, (row + 1) * dim));
  return { tags, categories };
}

type CacheMaterial = Omit<CacheHeader, "tagCount" | "categoryCount" | "dataSha256">;
type Log = TaggerOptions["log"];

/** The cached matrices when the header matches this model and data and the data file is intact; otherwise undefined. */
async function readCache(
  files: { header: string; data: string },
  material: CacheMaterial,
  tagCount: number,
  categoryCount: number,
  dim: number,
  log: Log,
): Promise<{ tags: Float32Array; categories: Float32Array } | undefined> {
  let headerText: string;
  try {
    headerText = await readFile(files.header, "utf8");
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(CacheHeaderSchema, safeJson(headerText));
  const header = parsed.success ? parsed.output : undefined;
  const expected: Omit<CacheHeader, "dataSha256"> = { ...material, tagCount, categoryCount };
  const matches = header !== undefined && (Object.keys(expected) as (keyof typeof expected)[]).every((key) => JSON.stringify(header[key]) === JSON.stringify(expected[key]));
  if (!matches || header === undefined) {
    log?.("tagger: cache header does not match; re-embedding", { file: files.header });
    return undefined;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(files.data);
  } catch {
    return undefined;
  }
  if (bytes.byteLength !== (tagCount + categoryCount) * dim * 4 || sha256(bytes) !== header.dataSha256) {
    log?.("tagger: cache data is truncated or corrupt; re-embedding", { file: files.data });
    return undefined;
  }
  // Copy into a fresh (aligned) buffer; a Buffer from readFile may sit at any offset of a shared pool.
  const all = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(all.buffer).set(bytes);
  return { tags: all.subarray(0, tagCount * dim), categories: all.subarray(tagCount * dim) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Writes data then header, each to a temporary name renamed into place, so a reader never sees a header
 * for data that is not complete, and concurrent workers writing the same key do not interleave. A failed
 * write only costs the next start an embedding pass.
 */
async function writeCache(
  files: { header: string; data: string },
  material: CacheMaterial,
  matrices: { tags: Float32Array; categories: Float32Array },
  tagCount: number,
  categoryCount: number,
  log: Log,
): Promise<void> {
  const data = new Uint8Array(matrices.tags.byteLength + matrices.categories.byteLength);
  data.set(new Uint8Array(matrices.tags.buffer, matrices.tags.byteOffset, matrices.tags.byteLength));
  data.set(new Uint8Array(matrices.categories.buffer, matrices.categories.byteOffset, matrices.categories.byteLength), matrices.tags.byteLength);
  const header: CacheHeader = { ...material, tagCount, categoryCount, dataSha256: sha256(data) };
  const suffix = `.${process.pid}-${randomUUID()}.tmp`;
  try {
    await mkdir(resolve(files.data, ".."), { recursive: true });
    await writeFile(files.data + suffix, data);
    await rename(files.data + suffix, files.data);
    await writeFile(files.header + suffix, `${JSON.stringify(header, null, 2)}\n`);
    await rename(files.header + suffix, files.header);
  } catch (error) {
    await Promise.all([rm(files.data + suffix, { force: true }), rm(files.header + suffix, { force: true })]);
    log?.("tagger: could not write the embedding cache", { file: files.data, error: error instanceof Error ? error.message : String(error) });
  }
}

/**
 * Micro-F1-optimal cut-off over all images. Each image contributes its top `maxTags` tags as candidates (the
 * only ones `tag()` can return); sweeping the cut-off down through the candidates' z-scores, in ties
 * together, counts TP/FP exactly, and FN = positives − TP (positives outside an image's top `maxTags` are
 * misses at every cut-off).
 */
function calibrate(tagger: Tagger, tagIndex: ReadonlyMap<string, number>, pairs: readonly LabelledEmbedding[]): CalibrationResult {
  if (pairs.length === 0) throw new RangeError("calibrateThreshold: no labelled embeddings");
  const limit = tagger.maxTags;
  const candidates: { z: number; positive: boolean }[] = [];
  const unknown = new Set<string>();
  let positives = 0;
  for (const { embedding, expectedTags } of pairs) {
    const expected = new Set<number>();
    for (const raw of expectedTags) {
      const tag = raw.trim().toLowerCase();
      const index = tagIndex.get(tag);
      if (index === undefined) unknown.add(tag);
      else expected.add(index);
    }
    positives += expected.size;
    const z = tagger.zScores(embedding);
    const order = Array.from(z.keys()).sort((a, b) => (z[b] as number) - (z[a] as number) || a - b);
    for (const index of order.slice(0, limit)) candidates.push({ z: z[index] as number, positive: expected.has(index) });
  }
  if (positives === 0) throw new RangeError("calibrateThreshold: none of the expected tags is in the vocabulary");
  if (candidates.length === 0) throw new RangeError("calibrateThreshold: maxTags is 0, so no tag can be predicted");
  candidates.sort((a, b) => b.z - a.z);

  let best = { f1: -1, end: 0, tp: 0, fp: 0 };
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < candidates.length; ) {
    const z = (candidates[i] as { z: number }).z;
    for (; i < candidates.length && (candidates[i] as { z: number }).z === z; i++) {
      if ((candidates[i] as { positive: boolean }).positive) tp++;
      else fp++;
    }
    const f1 = (2 * tp) / (2 * tp + fp + (positives - tp));
    if (f1 > best.f1) best = { f1, end: i, tp, fp };
  }
  const lastKept = (candidates[best.end - 1] as { z: number }).z;
  const firstDropped = candidates[best.end]?.z;
  const zThreshold = firstDropped === undefined ? lastKept : (lastKept + firstDropped) / 2;

  // Slope: maximise Σ log-likelihood of the labels under σ(a·(z − k)); its derivative in a is decreasing.
  const gradient = (a: number) => candidates.reduce((sum, c) => sum + ((c.positive ? 1 : 0) - 1 / (1 + Math.exp(-a * (c.z - zThreshold)))) * (c.z - zThreshold), 0);
  let low = 0.1;
  let high = 10;
  if (gradient(high) > 0) low = high;
  else if (gradient(low) < 0) high = low;
  for (let step = 0; step < 60 && high - low > 1e-6; step++) {
    const mid = (low + high) / 2;
    if (gradient(mid) > 0) low = mid;
    else high = mid;
  }

  const falseNegatives = positives - best.tp;
  return {
    zThreshold,
    confidenceSlope: (low + high) / 2,
    f1: best.f1,
    precision: best.tp + best.fp === 0 ? 0 : best.tp / (best.tp + best.fp),
    recall: best.tp / positives,
    truePositives: best.tp,
    falsePositives: best.fp,
    falseNegatives,
    images: pairs.length,
    unknownTags: [...unknown].sort(),
  };
}
