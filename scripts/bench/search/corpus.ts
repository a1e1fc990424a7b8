/**
 * The search benchmark's synthetic catalogue: stock-photo-like images in topical clusters, deterministic
 * from a seed, generated one row at a time so a million images never sit in memory together.
 *
 * Every image belongs to one topic (default 200). A topic is a browse category plus three core keywords
 * of its own and six secondary keywords from its category's pool, all from the tagger's vocabulary
 * (`gpu-worker/ml/data/tag-vocabulary.txt`); titles, tags and descriptions draw mostly from the topic.
 * Embeddings are 512-dim unit vectors: a shared direction (CLIP-like anisotropy) + the category's
 * direction + the topic's + one of four "shot" directions + noise. Each topic also has a query: a text
 * of its core keywords and an embedding near the topic centre, so semantic results have a known topic.
 *
 * Run `bun scripts/bench/search/corpus.ts [--size N] [--seed S] [--sample K]` to print the corpus's
 * distributions, K sample rows and the generation rate; load.ts puts it in Postgres.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { ImageStatus } from "../../../db/schema/images";
import { COLOUR_BUCKETS, type ColourBucket } from "../../../gpu-worker/pipeline/colours";

export const EMBEDDING_DIMS = 512;
export const DEFAULT_SIZE = 100_000;
export const DEFAULT_SEED = 20_240_601;
export const DEFAULT_TOPICS = 200;

const DATA = resolve(import.meta.dir, "../../../gpu-worker/ml/data");
/** Newest publication date; `published_at` spreads over the three years before it. Fixed, so runs compare. */
const NEWEST = Date.UTC(2026, 0, 1);
const SPAN_MS = 3 * 365 * 24 * 3600 * 1000;
const SHOTS_PER_TOPIC = 4;

export type CorpusOptions = { size: number; seed: number; topics: number };

export type Topic = {
  index: number;
  category: string;
  /** Keywords no other topic uses as core keywords; the topic's query text is made of them. */
  core: string[];
  secondary: string[];
  /** Colour buckets this topic's images lean to. */
  colours: ColourBucket[];
  centroid: Float32Array;
  shots: Float32Array[];
};

export type CorpusImage = {
  index: number;
  topic: number;
  id: string;
  contributorId: string;
  title: string;
  description: string;
  status: ImageStatus;
  statusReason: string | null;
  editorial: boolean;
  sha256: string;
  phash: bigint;
  width: number;
  height: number;
  bytes: number;
  colourBucket: ColourBucket;
  palette: { hex: string; share: number; bucket: ColourBucket }[];
  nsfwScore: number;
  /** Null while an image is still processing (no ML output yet). */
  embedding: Float32Array | null;
  tags: { tag: string; confidence: number | null; source: "ai" | "contributor" }[];
  categories: { slug: string; confidence: number | null; source: "ai" | "contributor" }[];
  viewCount: number;
  downloadCount: number;
  saleCount: number;
  createdAt: Date;
  publishedAt: Date | null;
  withdrawnAt: Date | null;
};

/** A topic's benchmark query: its text for keyword search, an embedding for semantic search, and a filter that keeps few rows. */
export type TopicQuery = {
  topic: number;
  /** Two of the topic's core keywords: a specific query (a few hundred matches at 100k). */
  text: string;
  /** One of the topic's secondary keywords, shared with other topics of its category: a broader query. */
  broadText: string;
  /** A generic stock keyword matching a fifth to a third of all images (tags, and category prompts in descriptions): the costliest kind to rank. */
  genericText: string;
  embedding: Float32Array;
  filter: { category: string; orientation: "portrait" };
};

/** A small, fast, seedable PRNG (sfc32); `fork` derives an independent stream from a label. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(...seeds: number[]) {
    let h = 0x9e3779b9;
    for (const s of seeds) h = mix32(h ^ mix32(s >>> 0));
    this.a = mix32(h ^ 0x243f6a88);
    this.b = mix32(h ^ 0x85a308d3);
    this.c = mix32(h ^ 0x13198a2e);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** Standard normal (Box–Muller, both values used). */
  gaussian(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = 1 - this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `count` distinct items, in random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const copy = [...items];
    const n = Math.min(count, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + this.int(copy.length - i);
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy.slice(0, n);
  }
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0");

/** A UUID (version 4 layout) that depends only on the seed, a kind label and an index. */
function stableUuid(seed: number, kind: number, index: number): string {
  const r = new Random(seed, kind, index);
  const h = hex8(r.uint32()) + hex8(r.uint32()) + hex8(r.uint32()) + hex8(r.uint32());
  const variant = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function gaussianVector(r: Random, scale = 1): Float32Array {
  const v = new Float32Array(EMBEDDING_DIMS);
  const s = scale / Math.sqrt(EMBEDDING_DIMS);
  for (let i = 0; i < EMBEDDING_DIMS; i++) v[i] = r.gaussian() * s;
  return v;
}

function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += (v[i] as number) ** 2;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * inv;
  return v;
}

/** `sum(weight * vector)` of the given terms. */
function combine(terms: [number, Float32Array][]): Float32Array {
  const out = new Float32Array(EMBEDDING_DIMS);
  for (const [w, v] of terms) for (let i = 0; i < EMBEDDING_DIMS; i++) out[i] = (out[i] as number) + w * (v[i] as number);
  return out;
}

/** pgvector's text form, six decimals (the float32 values carry about seven). */
export function vectorLiteral(v: Float32Array): string {
  const parts = new Array<string>(v.length);
  for (let i = 0; i < v.length; i++) parts[i] = String(Math.round((v[i] as number) * 1e6) / 1e6);
  return `[${parts.join(",")}]`;
}

/** Relative popularity of the browse categories on a general stock site; shapes how many topics each gets. */
const CATEGORY_WEIGHT: Record<string, number> = {
  nature: 14,
  people: 14,
  business: 11,
  food: 8,
  animals: 7,
  architecture: 6,
  technology: 7,
  travel: 8,
  sports: 4,
  abstract: 6,
  science: 3,
  transport: 3,
  health: 4,
  education: 3,
  fashion: 4,
  holidays: 3,
  interiors: 3,
  industry: 3,
  arts: 3,
};

/** Editorial share per category (news-like subjects are more often editorial). */
const EDITORIAL_SHARE: Record<string, number> = { people: 0.1, travel: 0.12, sports: 0.2, transport: 0.06, arts: 0.08 };

const GENERIC_TAGS = ["close-up", "copy space", "horizontal", "vertical", "lifestyle", "modern", "nature", "night", "outdoors", "people"];
const TITLE_OPENERS = ["", "", "", "Close-up of", "View of", "Detail of", "Minimal", "Vintage", "Modern", "Bright", "Moody", "Aerial view of", "Flat lay of", "Portrait of"];
const JOINERS = ["with", "and", "on", "near", "beside", "in front of", "among"];
const DESCRIPTION_TAILS = [
  "Shot in natural light.",
  "Copy space on the left.",
  "High resolution stock photo.",
  "Shallow depth of field.",
  "Bright and airy mood.",
  "Taken on location.",
  "Clean composition with negative space.",
  "Warm tones, soft shadows.",
];
const REJECT_REASONS = ["low resolution", "out of focus", "watermark or logo visible", "duplicate of an existing image"];
/** A representative sRGB value per colour bucket, for the palette column. */
const BUCKET_HEX: Record<ColourBucket, string> = {
  red: "#c0392b",
  orange: "#e67e22",
  yellow: "#f1c40f",
  green: "#27ae60",
  teal: "#16a085",
  blue: "#2e6bb0",
  purple: "#7d3c98",
  pink: "#f5a3c7",
  brown: "#7b4a2a",
  black: "#111111",
  white: "#f7f7f5",
  gray: "#8a8a8a",
};

const capitalise = (s: string) => (s ? s[0]?.toUpperCase() + s.slice(1) : s);

/**
 * The catalogue for a seed: topics (with their embedding centroids), contributors and the images,
 * each image computed from (seed, index) alone, so any slice can be generated on its own.
 *
 * @example
 * const corpus = new SearchCorpus({ size: 1000, seed: 1, topics: 50 });
 * for (const image of corpus.images()) console.log(image.title);
 */
export class SearchCorpus {
  readonly options: CorpusOptions;
  readonly topics: Topic[];
  readonly contributorIds: string[];
  private readonly topicCumulative: Float64Array;
  private readonly contributorCumulative: Float64Array;
  private readonly categoryPrompts: Record<string, string[]>;
  private readonly categorySlugs: string[];

  constructor(options: Partial<CorpusOptions> = {}) {
    this.options = { size: options.size ?? DEFAULT_SIZE, seed: options.seed ?? DEFAULT_SEED, topics: options.topics ?? DEFAULT_TOPICS };
    const { seed, topics: topicCount, size } = this.options;
    const vocabulary = readFileSync(resolve(DATA, "tag-vocabulary.txt"), "utf8")
      .split("\n")
      .map((line) => line.trim().toLowerCase())
      .filter((line) => line && !line.startsWith("#"));
    this.categoryPrompts = JSON.parse(readFileSync(resolve(DATA, "categories.json"), "utf8")) as Record<string, string[]>;
    this.categorySlugs = Object.keys(this.categoryPrompts);

    const r = new Random(seed, 1);
    const generic = new Set(GENERIC_TAGS);
    const words = r.sample(
      vocabulary.filter((w) => !generic.has(w)),
      vocabulary.length,
    );
    if (words.length < topicCount * 3 + this.categorySlugs.length * 40) throw new Error(`vocabulary too small for ${topicCount} topics`);
    // Core keywords are exclusive to a topic; each category has a pool of 40 shared secondary keywords.
    let next = 0;
    const take = (n: number) => words.slice(next, (next += n));
    const pools = Object.fromEntries(this.categorySlugs.map((slug) => [slug, take(40)]));

    const shared = normalise(gaussianVector(r));
    const categoryDirection = Object.fromEntries(this.categorySlugs.map((slug) => [slug, normalise(gaussianVector(r))]));
    const totalWeight = this.categorySlugs.reduce((s, slug) => s + (CATEGORY_WEIGHT[slug] ?? 3), 0);
    const categoryCumulative: number[] = [];
    let acc = 0;
    for (const slug of this.categorySlugs) categoryCumulative.push((acc += (CATEGORY_WEIGHT[slug] ?? 3) / totalWeight));

    this.topics = [];
    for (let t = 0; t < topicCount; t++) {
      // Round-robin the first 19 so every category has a topic, then by weight.
      const category = t < this.categorySlugs.length ? (this.categorySlugs[t] as string) : (this.categorySlugs[lowerBound(categoryCumulative, r.next())] as string);
      const centroid = normalise(
        combine([
          [0.35, shared],
          [0.55, categoryDirection[category] as Float32Array],
          [0.75, normalise(gaussianVector(r))],
        ]),
      );
      const shots = Array.from({ length: SHOTS_PER_TOPIC }, () => normalise(gaussianVector(r)));
      this.topics.push({
        index: t,
        category,
        core: take(3),
        secondary: r.sample(pools[category] as string[], 6),
        colours: r.sample(COLOUR_BUCKETS, 2),
        centroid,
        shots,
      });
    }
    // Topic popularity is Zipf-like: a few topics are large, most are small.
    this.topicCumulative = cumulative(
      Array.from({ length: topicCount }, (_, i) => 1 / (1 + i) ** 0.6),
      r,
    );
    const contributorCount = Math.max(10, Math.round(size / 50));
    this.contributorIds = Array.from({ length: contributorCount }, (_, i) => stableUuid(seed, 2, i));
    this.contributorCumulative = cumulative(
      Array.from({ length: contributorCount }, (_, i) => 1 / (1 + i) ** 0.9),
      r,
    );
  }

  /** Images 0..size-1, or a slice of them, one at a time. */
  *images(from = 0, to = this.options.size): Generator<CorpusImage> {
    for (let i = from; i < to; i++) yield this.image(i);
  }

  /** Image number `index`; depends only on the seed, the topic set and the index. */
  image(index: number): CorpusImage {
    const { seed } = this.options;
    const r = new Random(seed, 3, index);
    const topic = this.topics[lowerBound(this.topicCumulative, r.next())] as Topic;
    const contributorId = this.contributorIds[lowerBound(this.contributorCumulative, r.next())] as string;

    const statusRoll = r.next();
    const status: ImageStatus =
      statusRoll < 0.97 ? "approved" : statusRoll < 0.98 ? "pending_review" : statusRoll < 0.988 ? "rejected" : statusRoll < 0.995 ? "processing" : "processing_failed";
    const processed = status !== "processing" && status !== "processing_failed";

    // Orientation mix of a stock library: mostly landscape.
    const shape = r.next();
    const long = 3000 + 500 * r.int(7);
    const [width, height] =
      shape < 0.6 ? [long, Math.round(long / r.pick([1.5, 1.5, 1.333, 1.778]))] : shape < 0.9 ? [Math.round(long / r.pick([1.5, 1.333])), long] : [long, long];

    const coreTags = topic.core.filter(() => r.chance(0.8));
    if (coreTags.length === 0) coreTags.push(r.pick(topic.core));
    const tagSet = new Set<string>([...coreTags, ...r.sample(topic.secondary, 3 + r.int(3)), ...r.sample(GENERIC_TAGS, 1 + r.int(3))]);
    const opener = r.pick(TITLE_OPENERS);
    const title = capitalise(`${opener ? `${opener} ` : ""}${r.pick(coreTags)} ${r.pick(JOINERS)} ${r.pick(topic.secondary)}`.trim());
    const prompt = r.pick(this.categoryPrompts[topic.category] ?? ["a stock photo."]);
    const [d1, d2, d3] = r.sample([...topic.core, ...topic.secondary], 3);
    const description = `${capitalise(prompt)} Shows ${d1} and ${d2}, with ${d3}. ${r.pick(DESCRIPTION_TAILS)}`;
    const aiTags = r.chance(0.7);
    const tags = processed
      ? [...tagSet].map((tag) => ({ tag, confidence: aiTags ? Math.round(r.range(0.3, 0.99) * 1000) / 1000 : null, source: aiTags ? ("ai" as const) : ("contributor" as const) }))
      : [];

    const categories = processed ? [{ slug: topic.category, confidence: Math.round(r.range(0.55, 0.97) * 1000) / 1000, source: "ai" as const }] : [];
    if (processed && r.chance(0.2)) {
      const extra = r.pick(this.categorySlugs);
      if (extra !== topic.category) categories.push({ slug: extra, confidence: Math.round(r.range(0.3, 0.6) * 1000) / 1000, source: "ai" });
    }

    const colourBucket = r.chance(0.75) ? r.pick(topic.colours) : r.pick(COLOUR_BUCKETS);
    const second = r.pick(COLOUR_BUCKETS);
    const share = Math.round(r.range(0.4, 0.8) * 1000) / 1000;
    const palette = [
      { hex: BUCKET_HEX[colourBucket], share, bucket: colourBucket },
      { hex: BUCKET_HEX[second], share: Math.round((1 - share) * 1000) / 1000, bucket: second },
    ];

    // NSFW scores are mostly near zero; the few high ones are why images sit in review.
    const nsfwScore = status === "pending_review" && r.chance(0.5) ? r.range(0.1, 0.9) : Math.min(0.099, r.next() ** 6 * 0.12);

    let embedding: Float32Array | null = null;
    if (processed) {
      const noise = r.range(0.7, 1.1);
      embedding = normalise(
        combine([
          [1, topic.centroid],
          [0.45, topic.shots[r.int(SHOTS_PER_TOPIC)] as Float32Array],
          [noise, gaussianVector(r)],
        ]),
      );
    }

    // Popularity: heavy-tailed views; downloads and sales follow.
    const viewCount = status === "approved" ? Math.floor(20 / (1 - r.next()) ** 0.8) : 0;
    const downloadCount = Math.floor(viewCount * r.range(0, 0.04));
    const saleCount = Math.floor(downloadCount * r.range(0, 0.3));
    const createdAt = new Date(NEWEST - Math.floor(r.next() * SPAN_MS));
    const publishedAt = status === "approved" ? new Date(createdAt.getTime() + Math.floor(r.range(0.2, 48) * 3600_000)) : null;
    const withdrawnAt = publishedAt && r.chance(0.01) ? new Date(publishedAt.getTime() + Math.floor(r.range(1, 300) * 86_400_000)) : null;

    const id = stableUuid(seed, 3, index);
    return {
      index,
      topic: topic.index,
      id,
      contributorId,
      title,
      description,
      status,
      statusReason:
        status === "rejected"
          ? r.pick(REJECT_REASONS)
          : status === "pending_review"
            ? "flagged by the NSFW check"
            : status === "processing_failed"
              ? "could not decode the file"
              : null,
      editorial: r.chance(EDITORIAL_SHARE[topic.category] ?? 0.03),
      sha256: (hex8(r.uint32()) + hex8(r.uint32()) + hex8(r.uint32()) + hex8(r.uint32())).repeat(2),
      phash: BigInt.asIntN(64, (BigInt(r.uint32()) << 32n) | BigInt(r.uint32())),
      width,
      height,
      bytes: Math.floor(width * height * r.range(0.35, 0.9)),
      colourBucket,
      palette,
      nsfwScore: Math.round(nsfwScore * 10000) / 10000,
      embedding,
      tags,
      categories,
      viewCount,
      downloadCount,
      saleCount,
      createdAt,
      publishedAt,
      withdrawnAt,
    };
  }

  /** One query per topic: its first two core keywords, an embedding near its centre, and a selective filter. */
  queries(): TopicQuery[] {
    return this.topics.map((topic) => {
      const r = new Random(this.options.seed, 4, topic.index);
      return {
        topic: topic.index,
        text: `${topic.core[0]} ${topic.core[1]}`,
        broadText: topic.secondary[0] as string,
        genericText: GENERIC_TAGS[topic.index % GENERIC_TAGS.length] as string,
        embedding: normalise(
          combine([
            [1, topic.centroid],
            [0.5, gaussianVector(r)],
          ]),
        ),
        filter: { category: topic.category, orientation: "portrait" as const },
      };
    });
  }
}

function cumulative(weights: number[], r: Random): Float64Array {
  // Shuffle which topic/contributor gets which weight, so popularity is not tied to index order.
  const shuffled = r.sample(weights, weights.length);
  const total = shuffled.reduce((a, b) => a + b, 0);
  const out = new Float64Array(shuffled.length);
  let acc = 0;
  shuffled.forEach((w, i) => (out[i] = acc += w / total));
  out[out.length - 1] = 1;
  return out;
}

/** First index whose cumulative value exceeds `x`. */
function lowerBound(cum: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((cum[mid] as number) > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Parses the options every search-bench script shares: `--size`, `--seed`, `--topics`. */
export function corpusOptionsFromArgs(args: string[] = process.argv.slice(2)): CorpusOptions & { rest: Record<string, string | boolean | undefined> } {
  const { values } = parseArgs({
    args,
    strict: false,
    options: { size: { type: "string" }, seed: { type: "string" }, topics: { type: "string" } },
  });
  const num = (v: unknown, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got ${String(v)}`);
    return n;
  };
  return { size: num(values.size, DEFAULT_SIZE), seed: num(values.seed, DEFAULT_SEED), topics: num(values.topics, DEFAULT_TOPICS), rest: values };
}

if (import.meta.main) {
  const options = corpusOptionsFromArgs();
  const sample = Number(options.rest.sample ?? 2);
  const corpus = new SearchCorpus(options);
  const counts = { status: new Map<string, number>(), orientation: new Map<string, number>(), category: new Map<string, number>() };
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let withdrawn = 0;
  let editorial = 0;
  let tags = 0;
  let literalChars = 0;
  const started = performance.now();
  for (const image of corpus.images()) {
    bump(counts.status, image.status);
    bump(counts.orientation, image.width > image.height ? "landscape" : image.width < image.height ? "portrait" : "square");
    bump(counts.category, image.categories[0]?.slug ?? "(none)");
    if (image.withdrawnAt) withdrawn++;
    if (image.editorial) editorial++;
    tags += image.tags.length;
    if (image.embedding) literalChars += vectorLiteral(image.embedding).length;
    if (image.index < sample)
      process.stdout.write(
        `${JSON.stringify({ ...image, phash: String(image.phash), embedding: image.embedding ? `[${image.embedding.slice(0, 4).join(", ")}, ...]` : null }, null, 1)}\n`,
      );
  }
  const seconds = (performance.now() - started) / 1000;
  const pct = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, `${((100 * v) / options.size).toFixed(1)}%`]));
  // The profile is the command's output (JSON to read or pipe), not a log line.
  process.stdout.write(
    `${JSON.stringify({ options: { size: options.size, seed: options.seed, topics: options.topics }, contributors: corpus.contributorIds.length, status: pct(counts.status), withdrawn, editorial, tagsPerImage: +(tags / options.size).toFixed(2), orientation: pct(counts.orientation), category: pct(counts.category), vectorLiteralBytesPerImage: Math.round(literalChars / options.size) }, null, 1)}\n`,
  );
  console.log(`generated ${options.size} images (with vector literals) in ${seconds.toFixed(1)} s: ${Math.round(options.size / seconds)} images/s`);
  const q = corpus.queries()[0];
  if (q) console.log(`query 0: "${q.text}" (topic 0, ${corpus.topics[0]?.category}), filter ${JSON.stringify(q.filter)}`);
}
