import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClipModel, loadClipModel } from "../../gpu-worker/ml/clip";
import {
  createTagger,
  DEFAULT_CATEGORIES_PATH,
  DEFAULT_MAX_TAGS,
  DEFAULT_VOCABULARY_PATH,
  DEFAULT_Z_THRESHOLD,
  type LabelledEmbedding,
  loadCategoryPrompts,
  loadVocabulary,
  TAG_PROMPT_TEMPLATES,
  type Tagger,
  type TaggerTextEncoder,
  TEXT_BATCH_SIZE,
} from "../../gpu-worker/ml/tagger";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";

/** A unit vector drawn from a PRNG seeded by the text: the same text always gets the same embedding. */
function hashEmbedding(text: string, dim: number): Float32Array {
  const seed = createHash("sha256").update(text).digest();
  let state = seed.readUInt32LE(0) || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
  const vector = new Float32Array(dim);
  let squares = 0;
  for (let i = 0; i < dim; i++) {
    // Box–Muller: Gaussian coordinates make the direction uniform on the sphere.
    const value = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    vector[i] = value;
    squares += value * value;
  }
  const norm = Math.sqrt(squares);
  for (let i = 0; i < dim; i++) vector[i] = (vector[i] as number) / norm;
  return vector;
}

/** A text encoder that records every batch it is asked for. `overrides` pins chosen texts to chosen vectors. */
function fakeEncoder(options: { dim?: number; version?: string; overrides?: Map<string, Float32Array> } = {}): TaggerTextEncoder & { batches: string[][] } {
  const dim = options.dim ?? 64;
  const batches: string[][] = [];
  return {
    modelId: "fake-clip",
    version: options.version ?? "v1",
    embedDim: dim,
    batches,
    async embedTexts(texts) {
      batches.push([...texts]);
      return texts.map((text) => options.overrides?.get(text) ?? hashEmbedding(text, dim));
    },
  };
}

function normalise(vector: Float32Array): Float32Array {
  const norm = Math.hypot(...vector);
  return vector.map((x) => x / norm);
}

/** `Σ weight · vector`, normalised. */
function mix(parts: readonly [Float32Array, number][], dim: number): Float32Array {
  const out = new Float32Array(dim);
  for (const [vector, weight] of parts) for (let i = 0; i < dim; i++) out[i] = (out[i] as number) + weight * (vector[i] as number);
  return normalise(out);
}

const unit = (dim: number, axis: number) => {
  const vector = new Float32Array(dim);
  vector[axis] = 1;
  return vector;
};

/** The slugs scripts/seed.ts inserts, read from its source. */
async function seededCategorySlugs(): Promise<string[]> {
  const source = await readFile(resolve("scripts/seed.ts"), "utf8");
  const list = /const CATEGORIES = \[([^\]]*)\]/.exec(source)?.[1];
  if (list === undefined) throw new Error("scripts/seed.ts: no `const CATEGORIES = [...]` found");
  return [...list.matchAll(/"([^"]+)"/g)].map((match) => match[1] as string);
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "edgestock-tagger-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("tag vocabulary and category prompts", () => {
  it("ships 2,500–3,500 unique, trimmed, lower-case keywords, sorted, without blank lines", async () => {
    const lines = (await readFile(DEFAULT_VOCABULARY_PATH, "utf8")).split("\n");
    expect(lines.at(-1)).toBe("");
    const tags = lines.slice(0, -1);
    expect(tags.length).toBeGreaterThanOrEqual(2500);
    expect(tags.length).toBeLessThanOrEqual(3500);
    expect(tags.filter((tag) => tag.trim() === "")).toEqual([]);
    expect(tags.filter((tag) => !/^[a-z0-9]+(?:[ -][a-z0-9]+)*$/.test(tag))).toEqual([]);
    expect(new Set(tags).size).toBe(tags.length);
    expect(tags).toEqual([...tags].sort());
    expect(await loadVocabulary()).toEqual(tags);
  });

  it("covers the kinds of keywords stock search needs", async () => {
    const tags = new Set(await loadVocabulary());
    const expected = [
      "woman",
      "businessman",
      "golden retriever",
      "cherry blossom",
      "pizza",
      "laptop",
      "bicycle",
      "skyscraper",
      "beach",
      "hiking",
      "teamwork",
      "aerial view",
      "macro",
      "bokeh",
      "flat lay",
      "silhouette",
      "copy space",
      "close-up",
      "top view",
      "blue",
      "winter",
      "fog",
      "golden hour",
      "doctor",
      "classroom",
      "soccer",
      "passport",
    ];
    expect(expected.filter((tag) => !tags.has(tag))).toEqual([]);
  });

  it("has 3–6 prompts for every category scripts/seed.ts inserts", async () => {
    const prompts = await loadCategoryPrompts();
    const seeded = await seededCategorySlugs();
    expect(seeded.length).toBeGreaterThan(0);
    expect(seeded.filter((slug) => !prompts.has(slug))).toEqual([]);
    for (const [slug, list] of prompts) {
      expect(list.length, slug).toBeGreaterThanOrEqual(3);
      expect(list.length, slug).toBeLessThanOrEqual(6);
      expect(new Set(list).size, slug).toBe(list.length);
    }
  });

  it("rejects a vocabulary with a duplicate or an upper-case keyword, naming the line", async () => {
    const duplicate = join(work, "dup.txt");
    await writeFile(duplicate, "cat\ndog\ncat\n");
    await expect(loadVocabulary(duplicate)).rejects.toThrow(/dup\.txt:3: "cat" is listed twice/);
    const upper = join(work, "upper.txt");
    await writeFile(upper, "cat\nDog\n");
    await expect(loadVocabulary(upper)).rejects.toThrow(/upper\.txt:2: "Dog" is not lower-case/);
  });
});

describe("createTagger: embedding once and the disk cache", () => {
  it("embeds every keyword with each template and every category prompt once, in batches of at most 64", async () => {
    const encoder = fakeEncoder();
    const tagger = await createTagger(encoder);
    const vocabulary = await loadVocabulary();
    const prompts = await loadCategoryPrompts();
    const texts = encoder.batches.flat();
    const wanted = new Set([...vocabulary.flatMap((tag) => TAG_PROMPT_TEMPLATES.map((t) => t.replace("{}", tag))), ...[...prompts.values()].flat()]);
    // "a photo of food." is both a keyword prompt and a category prompt: embedded once, used twice.
    expect(wanted.has("a photo of food.") && prompts.get("food")?.includes("a photo of food.")).toBe(true);
    expect(texts).toHaveLength(wanted.size);
    expect(new Set(texts)).toEqual(wanted);
    expect(texts).toContain("a photo of golden retriever.");
    expect(texts).toContain("a stock photo of golden retriever.");
    expect(Math.max(...encoder.batches.map((batch) => batch.length))).toBe(TEXT_BATCH_SIZE);
    expect(tagger.source).toBe("embedded");
    expect(tagger.vocabulary).toEqual(vocabulary);
    expect(tagger.categorySlugs).toEqual([...prompts.keys()]);

    // The keyword's row is the normalised mean of its templates' embeddings.
    const expected = mix(
      TAG_PROMPT_TEMPLATES.map((t) => [hashEmbedding(t.replace("{}", "golden retriever"), 64), 1] as [Float32Array, number]),
      64,
    );
    const row = tagger.tagEmbedding("golden retriever");
    expect(row).toBeDefined();
    for (let i = 0; i < 64; i++) expect(row?.[i]).toBeCloseTo(expected[i] as number, 6);
  });

  it("writes the matrices to cacheDir and a second start reads them without calling embedTexts", async () => {
    const cacheDir = join(work, "cache-reuse");
    const first = fakeEncoder();
    const a = await createTagger(first, { cacheDir });
    expect(a.source).toBe("embedded");
    expect(first.batches.length).toBeGreaterThan(0);

    const files = (await readdir(cacheDir)).sort();
    expect(files).toHaveLength(2);
    const [header, data] = [files.find((f) => f.endsWith(".json")), files.find((f) => f.endsWith(".f32"))];
    expect(header).toMatch(/^tagger-fake-clip-[0-9a-f]{16}\.json$/);
    expect((await stat(join(cacheDir, data as string))).size).toBe((a.vocabulary.length + a.categorySlugs.length) * 64 * 4);
    expect(JSON.parse(await readFile(join(cacheDir, header as string), "utf8"))).toMatchObject({
      modelId: "fake-clip",
      version: "v1",
      embedDim: 64,
      tagCount: a.vocabulary.length,
    });

    const second = fakeEncoder();
    const b = await createTagger(second, { cacheDir });
    expect(second.batches).toEqual([]);
    expect(b.source).toBe("cache");
    expect(b.tagEmbedding("sunset")).toEqual(a.tagEmbedding("sunset"));
    expect(b.categoryEmbedding("food")).toEqual(a.categoryEmbedding("food"));
    const image = hashEmbedding("some image", 64);
    expect(b.tag(image)).toEqual(a.tag(image));
  });

  it("re-embeds when the model version changes", async () => {
    const cacheDir = join(work, "cache-version");
    await createTagger(fakeEncoder({ version: "v1" }), { cacheDir });
    const bumped = fakeEncoder({ version: "v2" });
    const tagger = await createTagger(bumped, { cacheDir });
    expect(tagger.source).toBe("embedded");
    expect(bumped.batches.length).toBeGreaterThan(0);
    expect((await readdir(cacheDir)).filter((f) => f.endsWith(".f32"))).toHaveLength(2);
    // And the v1 cache is still there for v1.
    const again = fakeEncoder({ version: "v1" });
    expect((await createTagger(again, { cacheDir })).source).toBe("cache");
    expect(again.batches).toEqual([]);
  });

  it("re-embeds when the vocabulary or the category prompts change", async () => {
    const cacheDir = join(work, "cache-vocabulary");
    const vocabularyPath = join(work, "small-vocabulary.txt");
    await writeFile(vocabularyPath, "cat\ndog\nhorse\n");
    await createTagger(fakeEncoder(), { cacheDir, vocabularyPath });

    await writeFile(vocabularyPath, "cat\ndog\nhorse\nzebra\n");
    const encoder = fakeEncoder();
    const tagger = await createTagger(encoder, { cacheDir, vocabularyPath });
    expect(tagger.source).toBe("embedded");
    expect(tagger.vocabulary).toEqual(["cat", "dog", "horse", "zebra"]);
    expect(encoder.batches.flat()).toContain("a photo of zebra.");

    const categoriesPath = join(work, "small-categories.json");
    await writeFile(categoriesPath, JSON.stringify({ animals: ["a photo of an animal."], food: ["a photo of food."] }));
    await createTagger(fakeEncoder(), { cacheDir, vocabularyPath, categoriesPath });
    await writeFile(categoriesPath, JSON.stringify({ animals: ["a photo of an animal.", "a wildlife photo."], food: ["a photo of food."] }));
    const changed = fakeEncoder();
    expect((await createTagger(changed, { cacheDir, vocabularyPath, categoriesPath })).source).toBe("embedded");
  });

  it("ignores a corrupted cache file and re-embeds", async () => {
    const cacheDir = join(work, "cache-corrupt");
    const vocabularyPath = join(work, "corrupt-vocabulary.txt");
    await writeFile(vocabularyPath, "cat\ndog\n");
    await createTagger(fakeEncoder(), { cacheDir, vocabularyPath });
    const data = join(cacheDir, (await readdir(cacheDir)).find((f) => f.endsWith(".f32")) as string);
    const bytes = await readFile(data);
    bytes[10] = (bytes[10] as number) ^ 0xff;
    await writeFile(data, bytes);

    const messages: string[] = [];
    const encoder = fakeEncoder();
    const tagger = await createTagger(encoder, { cacheDir, vocabularyPath, log: (message) => messages.push(message) });
    expect(tagger.source).toBe("embedded");
    expect(encoder.batches.length).toBeGreaterThan(0);
    expect(messages.some((m) => m.includes("corrupt"))).toBe(true);
    expect((await createTagger(fakeEncoder(), { cacheDir, vocabularyPath })).source).toBe("cache");
  });
});

describe("Tagger.tag", () => {
  const dim = 64;
  let tagger: Tagger;
  beforeAll(async () => {
    tagger = await createTagger(fakeEncoder({ dim }));
  });

  it("ranks first the tag whose text embedding the image embedding was built near", () => {
    for (const [i, target] of ["golden retriever", "cherry blossom", "aerial view", "laptop", "sunset"].entries()) {
      const image = mix(
        [
          [tagger.tagEmbedding(target) as Float32Array, 1],
          [hashEmbedding(`noise ${i}`, dim), 0.5],
        ],
        dim,
      );
      const { tags } = tagger.tag(image);
      expect(tags[0]?.tag, target).toBe(target);
      expect(tags[0]?.confidence).toBeGreaterThan(0.99);
    }
  });

  it("returns at most maxTags tags, sorted by confidence, all at or above the z cut-off", () => {
    // At k = 1 about 16 % of the vocabulary (hundreds of tags) passes: the cap decides.
    const image = hashEmbedding("a busy image", dim);
    const { tags } = tagger.tag(image, { zThreshold: 1 });
    expect(tags).toHaveLength(DEFAULT_MAX_TAGS);
    const z = tagger.zScores(image);
    const zOf = (tag: string) => z[tagger.vocabulary.indexOf(tag)] as number;
    for (let i = 1; i < tags.length; i++) expect((tags[i - 1] as { confidence: number }).confidence).toBeGreaterThanOrEqual((tags[i] as { confidence: number }).confidence);
    for (const { tag, confidence } of tags) {
      expect(zOf(tag)).toBeGreaterThanOrEqual(1);
      expect(confidence).toBeGreaterThanOrEqual(0.5);
      expect(confidence).toBeLessThan(1);
    }
    // The tags left out are exactly the ones ranked below the 30 returned.
    const weakestKept = Math.min(...tags.map((t) => zOf(t.tag)));
    const returned = new Set(tags.map((t) => t.tag));
    expect(tagger.vocabulary.filter((tag) => !returned.has(tag) && zOf(tag) > weakestKept)).toEqual([]);

    expect(tagger.tag(image, { zThreshold: 1, maxTags: 5 }).tags).toEqual(tags.slice(0, 5));
  });

  it("drops every tag below the threshold: a raised k returns a prefix, and confidence is 0.5 at z = k", () => {
    const image = mix(
      [
        [tagger.tagEmbedding("beach") as Float32Array, 1],
        [tagger.tagEmbedding("surfing") as Float32Array, 0.6],
        [hashEmbedding("noise", dim), 0.6],
      ],
      dim,
    );
    const loose = tagger.tag(image, { zThreshold: 2 }).tags;
    const strict = tagger.tag(image, { zThreshold: 5 }).tags;
    expect(strict.length).toBeGreaterThan(0);
    expect(strict.length).toBeLessThan(loose.length);
    expect(strict.map((t) => t.tag)).toEqual(loose.slice(0, strict.length).map((t) => t.tag));

    const beachZ = tagger.zScores(image)[tagger.vocabulary.indexOf("beach")] as number;
    const atCut = tagger.tag(image, { zThreshold: beachZ - 1e-9 }).tags.at(-1);
    expect(atCut?.tag).toBe("beach");
    expect(atCut?.confidence).toBeCloseTo(0.5, 6);
    expect(tagger.tag(image, { zThreshold: beachZ + 1e-3 }).tags.map((t) => t.tag)).not.toContain("beach");
  });

  it("finds no tags in an embedding unrelated to every keyword (random direction, default k)", () => {
    const counts = Array.from({ length: 20 }, (_, i) => tagger.tag(hashEmbedding(`unrelated ${i}`, dim)).tags.length);
    // A random direction puts ~0.13 % of 2,900 Gaussian z-scores above 3: a handful, never dozens.
    expect(Math.max(...counts)).toBeLessThan(15);
    expect(tagger.zThreshold).toBe(DEFAULT_Z_THRESHOLD);
  });

  it("rejects an embedding of the wrong width or of zero length", () => {
    expect(() => tagger.tag(new Float32Array(dim + 1).fill(1))).toThrow(RangeError);
    expect(() => tagger.tag(new Float32Array(dim))).toThrow(/zero or not finite/);
  });
});

describe("Tagger.tag categories", () => {
  const dim = 16;
  let tagger: Tagger;
  beforeAll(async () => {
    // Three categories pinned to orthogonal axes, so the image's cosine with each is chosen exactly.
    const categoriesPath = join(work, "axes.json");
    await writeFile(categoriesPath, JSON.stringify({ alpha: ["alpha prompt"], beta: ["beta prompt"], gamma: ["gamma prompt"] }));
    const overrides = new Map([
      ["alpha prompt", unit(dim, 0)],
      ["beta prompt", unit(dim, 1)],
      ["gamma prompt", unit(dim, 2)],
    ]);
    tagger = await createTagger(fakeEncoder({ dim, overrides }), { categoriesPath });
  });

  /** An image with cosine `a` to alpha and `b` to beta (0 to gamma). */
  const image = (a: number, b: number) => {
    const vector = new Float32Array(dim);
    vector[0] = a;
    vector[1] = b;
    vector[3] = Math.sqrt(1 - a * a - b * b);
    return vector;
  };

  it("returns one category when the runner-up's probability is under half the best's", () => {
    // Cosine gap 0.01 → probability ratio e^-1 ≈ 0.37.
    const { categories } = tagger.tag(image(0.3, 0.29));
    expect(categories.map((c) => c.slug)).toEqual(["alpha"]);
    expect(categories[0]?.confidence).toBeCloseTo(1 / (1 + Math.exp(-1) + Math.exp(-30)), 6);
  });

  it("returns two when the runner-up is within a factor of two (cosine gap ≤ ln 2 / 100)", () => {
    // Gap 0.005 → ratio e^-0.5 ≈ 0.61.
    const { categories } = tagger.tag(image(0.295, 0.3));
    expect(categories.map((c) => c.slug)).toEqual(["beta", "alpha"]);
    expect((categories[1]?.confidence ?? 0) / (categories[0]?.confidence ?? 1)).toBeCloseTo(Math.exp(-0.5), 5);
    expect(tagger.tag(image(0.3, 0.3 - Math.log(2) / 100 + 1e-4)).categories).toHaveLength(2);
    expect(tagger.tag(image(0.3, 0.3 - Math.log(2) / 100 - 1e-4)).categories).toHaveLength(1);
  });

  it("does not depend on the embedding's length", () => {
    const plain = tagger.tag(image(0.3, 0.295)).categories;
    const scaled = tagger.tag(image(0.3, 0.295).map((x) => x * 7)).categories;
    expect(scaled.map((c) => c.slug)).toEqual(plain.map((c) => c.slug));
    scaled.forEach((c, i) => expect(c.confidence).toBeCloseTo(plain[i]?.confidence ?? Number.NaN, 5));
  });

  it("only returns the allowed categorySlugs, and refuses slugs without prompts", async () => {
    const categoriesPath = join(work, "axes.json");
    const overrides = new Map([
      ["alpha prompt", unit(dim, 0)],
      ["beta prompt", unit(dim, 1)],
      ["gamma prompt", unit(dim, 2)],
    ]);
    const restricted = await createTagger(fakeEncoder({ dim, overrides }), { categoriesPath, categorySlugs: ["gamma", "beta"] });
    expect(restricted.categorySlugs).toEqual(["beta", "gamma"]);
    expect(restricted.tag(image(0.6, 0.2)).categories.map((c) => c.slug)).toEqual(["beta"]);
    await expect(createTagger(fakeEncoder({ dim }), { categoriesPath, categorySlugs: ["alpha", "omega"] })).rejects.toThrow(/without prompts.*omega/);
  });

  it("accepts the seeded slugs with the shipped categories.json", async () => {
    const seeded = await seededCategorySlugs();
    const tagger = await createTagger(fakeEncoder(), { categorySlugs: seeded });
    expect([...tagger.categorySlugs].sort()).toEqual([...seeded].sort());
    const { categories } = tagger.tag(hashEmbedding("an image", 64));
    expect(categories.length).toBeGreaterThanOrEqual(1);
    expect(categories.length).toBeLessThanOrEqual(2);
    for (const { slug } of categories) expect(seeded).toContain(slug);
    expect(DEFAULT_CATEGORIES_PATH).toMatch(/gpu-worker\/ml\/data\/categories\.json$/);
  });
});

describe("Tagger.calibrateThreshold", () => {
  // Wide, so that planted, distractor and background z-scores (spread ≈ 1 each) sit far apart.
  const dim = 1024;
  let tagger: Tagger;
  beforeAll(async () => {
    tagger = await createTagger(fakeEncoder({ dim }));
  });

  /**
   * Synthetic labelled set: each image is built from 4 planted tags (weight 1, labelled), 3 distractors
   * (weight 0.35, not labelled) and noise. Planted tags land near z ≈ 15, distractors near z ≈ 5, the rest
   * of the vocabulary below ≈ 4.5: only a cut-off between the distractors and the planted tags is perfect.
   */
  function syntheticSet(count: number, seed: string): { pairs: LabelledEmbedding[]; distractors: string[][] } {
    const pairs: LabelledEmbedding[] = [];
    const distractors: string[][] = [];
    for (let n = 0; n < count; n++) {
      const pick = (k: number) => tagger.vocabulary[createHash("sha256").update(`${seed} ${n} ${k}`).digest().readUInt32LE(0) % tagger.vocabulary.length] as string;
      const chosen = [...new Set(Array.from({ length: 12 }, (_, k) => pick(k)))].slice(0, 7);
      const [planted, extra] = [chosen.slice(0, 4), chosen.slice(4)];
      const embedding = mix(
        [
          ...planted.map((tag) => [tagger.tagEmbedding(tag) as Float32Array, 1] as [Float32Array, number]),
          ...extra.map((tag) => [tagger.tagEmbedding(tag) as Float32Array, 0.35] as [Float32Array, number]),
          [hashEmbedding(`${seed} noise ${n}`, dim), 0.5],
        ],
        dim,
      );
      pairs.push({ embedding, expectedTags: planted });
      distractors.push(extra);
    }
    return { pairs, distractors };
  }

  it("finds the k that separates the planted tags from distractors and background", () => {
    const { pairs, distractors } = syntheticSet(40, "train");
    const result = tagger.calibrateThreshold(pairs);

    let lowestPlanted = Infinity;
    let highestOther = -Infinity;
    for (const { embedding, expectedTags } of pairs) {
      const z = tagger.zScores(embedding);
      tagger.vocabulary.forEach((tag, i) => {
        if (expectedTags.includes(tag)) lowestPlanted = Math.min(lowestPlanted, z[i] as number);
        else highestOther = Math.max(highestOther, z[i] as number);
      });
    }
    expect(highestOther).toBeGreaterThan(DEFAULT_Z_THRESHOLD); // the distractors do pass the default k
    expect(lowestPlanted).toBeGreaterThan(highestOther);
    expect(result.zThreshold).toBeGreaterThan(highestOther);
    expect(result.zThreshold).toBeLessThan(lowestPlanted);
    expect(result).toMatchObject({ f1: 1, precision: 1, recall: 1, truePositives: 160, falsePositives: 0, falseNegatives: 0, images: 40, unknownTags: [] });
    // Separable data: the likelihood keeps rising with the slope, which stops at its cap.
    expect(result.confidenceSlope).toBeCloseTo(10, 3);

    // Applied to images it has not seen, the calibrated k returns exactly the planted tags; the default does not.
    const test = syntheticSet(10, "test");
    let extraAtDefault = 0;
    test.pairs.forEach(({ embedding, expectedTags }, n) => {
      const tags = tagger.tag(embedding, { zThreshold: result.zThreshold }).tags.map((t) => t.tag);
      expect([...tags].sort()).toEqual([...expectedTags].sort());
      const loose = tagger.tag(embedding).tags.map((t) => t.tag);
      extraAtDefault += loose.filter((tag) => test.distractors[n]?.includes(tag)).length;
    });
    expect(extraAtDefault).toBeGreaterThan(0);
  });

  it("on overlapping scores trades precision for recall at the best F1, and reports unknown tags", () => {
    const { pairs, distractors } = syntheticSet(30, "overlap");
    // Label one of each image's three distractors too: now no cut-off is perfect.
    const relabelled = pairs.map(({ embedding, expectedTags }, n) => ({ embedding, expectedTags: [...expectedTags, distractors[n]?.[0] as string, "not a vocabulary word"] }));
    const result = tagger.calibrateThreshold(relabelled);
    expect(result.f1).toBeLessThan(1);
    expect(result.f1).toBeGreaterThan(0.5);
    expect(result.unknownTags).toEqual(["not a vocabulary word"]);
    expect(result.truePositives + result.falseNegatives).toBe(30 * 5);
    const f1At = (k: number) => {
      let tp = 0;
      let fp = 0;
      for (const { embedding, expectedTags } of relabelled) {
        for (const { tag } of tagger.tag(embedding, { zThreshold: k }).tags) {
          if (expectedTags.includes(tag)) tp++;
          else fp++;
        }
      }
      return (2 * tp) / (2 * tp + fp + (150 - tp));
    };
    expect(f1At(result.zThreshold)).toBeCloseTo(result.f1, 10);
    for (const delta of [-1, -0.5, 0.5, 1]) expect(f1At(result.zThreshold + delta)).toBeLessThanOrEqual(result.f1);
    expect(result.confidenceSlope).toBeGreaterThan(0.1);
    expect(result.confidenceSlope).toBeLessThan(10);
  });

  it("refuses a set with no usable labels", () => {
    expect(() => tagger.calibrateThreshold([])).toThrow(RangeError);
    expect(() => tagger.calibrateThreshold([{ embedding: hashEmbedding("x", dim), expectedTags: ["not a vocabulary word"] }])).toThrow(/none of the expected tags/);
  });
});

describe("createTagger with the real CLIP loader (tiny test model, Immich layout)", () => {
  let clip: ClipModel;
  let dir: string;
  beforeAll(async () => {
    dir = join(work, "test-clip");
    await writeTestClipModel(dir, { layout: "immich", embedDim: 32 });
    clip = await loadClipModel(dir, { executionProviders: ["cpu"], intraOpNumThreads: 1, maxBatch: 64 });
  });
  afterAll(async () => {
    await clip?.close();
  });

  it("embeds the shipped vocabulary through onnxruntime, caches it, and tags an image embedding", async () => {
    const cacheDir = join(work, "cache-real");
    let calls = 0;
    const counting: TaggerTextEncoder = {
      modelId: clip.modelId,
      version: clip.version,
      embedDim: clip.embedDim,
      embedTexts(texts) {
        calls++;
        return clip.embedTexts(texts);
      },
    };
    const tagger = await createTagger(counting, { cacheDir });
    expect(tagger.source).toBe("embedded");
    expect(calls).toBeGreaterThan(0);
    expect(tagger.embedDim).toBe(32);
    const row = tagger.tagEmbedding("golden retriever") as Float32Array;
    expect(Math.hypot(...row)).toBeCloseTo(1, 5);

    // A text embedding of one of the keyword's own prompts sits nearest that keyword. (The test model's
    // text tower averages token vectors, so every prompt is close to every other: the z-scores are low.)
    const [query] = await clip.embedTexts(["a photo of golden retriever."]);
    expect(tagger.tag(query as Float32Array, { zThreshold: 0 }).tags[0]?.tag).toBe("golden retriever");

    const { data, info } = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 30, g: 120, b: 200 } } })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const result = tagger.tag(await clip.embedImage({ data, width: info.width, height: info.height, channels: 3 }));
    expect(result.tags.length).toBeLessThanOrEqual(DEFAULT_MAX_TAGS);
    expect(result.categories.length).toBeGreaterThanOrEqual(1);
    expect(result.categories.length).toBeLessThanOrEqual(2);

    calls = 0;
    const restarted = await createTagger(counting, { cacheDir });
    expect(calls).toBe(0);
    expect(restarted.source).toBe("cache");
    expect(restarted.tag(query as Float32Array)).toEqual(tagger.tag(query as Float32Array));
  });
});
