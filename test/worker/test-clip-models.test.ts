import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLIP_BOS_ID,
  CLIP_EOS_ID,
  type ClipLayout,
  OPENAI_CLIP_MEAN,
  OPENAI_CLIP_STD,
  TEST_TOKEN_WIDTH,
  TEST_VISION_WIDTH,
  testClipModelPaths,
  writeTestClipModel,
} from "../../scripts/models/make-test-clip";

const EMBED_DIM = 32;
const IMAGE_SIZE = 224;
const CONTEXT = 77;
const PIXELS = 3 * IMAGE_SIZE * IMAGE_SIZE;

let root: string;
const dirs: Record<string, string> = {};

async function session(path: string): Promise<InferenceSession> {
  return InferenceSession.create(path);
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, "utf8"));
}

/** A smooth, image-like pattern per index (what the model sees after normalisation: roughly -2..2). */
function pattern(index: number): Float32Array {
  const out = new Float32Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) {
    const c = Math.floor(i / (IMAGE_SIZE * IMAGE_SIZE));
    const y = Math.floor(i / IMAGE_SIZE) % IMAGE_SIZE;
    const x = i % IMAGE_SIZE;
    out[i] = 1.5 * Math.sin((x * (index + 1)) / 37 + c) * Math.cos((y * (3 - c)) / (23 + index));
  }
  return out;
}

function imageBatch(indices: number[]): Float32Array {
  const out = new Float32Array(indices.length * PIXELS);
  indices.forEach((index, row) => out.set(pattern(index), row * PIXELS));
  return out;
}

/** `<|startoftext|>`, the words, `<|endoftext|>`, then `pad` up to `length`. */
function tokenRow(words: number[], length: number, pad: number): number[] {
  const row = [CLIP_BOS_ID, ...words, CLIP_EOS_ID];
  while (row.length < length) row.push(pad);
  return row;
}

const TEXTS = [[320, 1125, 539, 320, 1929], [320, 1125, 539, 320, 2368], [4558, 7137], [320], [1237, 2368, 18376, 530, 320, 5994]];

function textTensor(layout: ClipLayout, rows: number[][]): Tensor {
  const flat = rows.flat();
  const dims = [rows.length, rows[0]?.length ?? 0];
  return layout === "immich" ? new Tensor("int32", Int32Array.from(flat), dims) : new Tensor("int64", BigInt64Array.from(flat.map(BigInt)), dims);
}

function rowsOf(tensor: Tensor | undefined): number[][] {
  if (tensor === undefined || tensor.type !== "float32") throw new Error("expected a float32 output");
  const [n = 0, d = 0] = tensor.dims;
  const data = tensor.data as Float32Array;
  return Array.from({ length: n }, (_, r) => Array.from(data.subarray(r * d, (r + 1) * d)));
}

function cosine(a: number[] | undefined, b: number[] | undefined): number {
  if (a === undefined || b === undefined) throw new Error("missing row");
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    const y = b[i] ?? Number.NaN;
    dot += x * y;
    na += x * x;
    nb += y * y;
  });
  return dot / Math.sqrt(na * nb);
}

function expectRowsClose(actual: number[][], expected: number[][]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((row, r) => row.forEach((x, i) => expect(x).toBeCloseTo(expected[r]?.[i] ?? Number.NaN, 5)));
}

/** Every pair of rows points in a clearly different direction. */
function expectAllDistinct(rows: number[][]): void {
  for (let i = 0; i < rows.length; i++) {
    for (let j = i + 1; j < rows.length; j++) expect(cosine(rows[i], rows[j]), `rows ${i} and ${j}`).toBeLessThan(0.99);
  }
}

function metadata(s: InferenceSession, side: "input" | "output"): { name: string; type: string; shape: readonly (number | string)[] }[] {
  return (side === "input" ? s.inputMetadata : s.outputMetadata).map((m) =>
    m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: "non-tensor", shape: [] },
  );
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgestock-test-clip-"));
  const variants: [string, Parameters<typeof writeTestClipModel>[1]][] = [
    ["immich", { layout: "immich", seed: 1 }],
    ["immichAgain", { layout: "immich", seed: 1 }],
    ["immichSeed2", { layout: "immich", seed: 2 }],
    ["immichFixed", { layout: "immich", seed: 1, fixedBatch: true }],
    ["hf", { layout: "hf", seed: 1 }],
    ["hfAgain", { layout: "hf", seed: 1 }],
    ["hfSeed2", { layout: "hf", seed: 2 }],
    ["hfMask", { layout: "hf", seed: 1, attentionMask: true }],
  ];
  for (const [name, options] of variants) {
    dirs[name] = join(root, name);
    await writeTestClipModel(join(root, name), options);
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const dir = (name: string): string => dirs[name] ?? "";

describe("writeTestClipModel: the Immich layout", () => {
  it("writes open_clip's config.json, visual/preprocess_cfg.json and the tokenizer files under textual/", async () => {
    expect(await readJson(join(dir("immich"), "config.json"))).toMatchObject({
      embed_dim: EMBED_DIM,
      vision_cfg: { image_size: IMAGE_SIZE, patch_size: 32 },
      text_cfg: { context_length: CONTEXT, vocab_size: 49408 },
    });
    expect(await readJson(join(dir("immich"), "visual", "preprocess_cfg.json"))).toEqual({
      size: [IMAGE_SIZE, IMAGE_SIZE],
      mode: "RGB",
      mean: [...OPENAI_CLIP_MEAN],
      std: [...OPENAI_CLIP_STD],
      interpolation: "bicubic",
      resize_mode: "shortest",
      fill_color: 0,
    });
    expect(await readJson(join(dir("immich"), "textual", "tokenizer_config.json"))).toMatchObject({ pad_token: "<|endoftext|>", model_max_length: CONTEXT });
    const tokenizer = await readFile(join(dir("immich"), "textual", "tokenizer.json"));
    expect(tokenizer.equals(await readFile(resolve("models/clip-tokenizer/tokenizer.json")))).toBe(true);
  });

  it("has image float32 [batch_size,3,224,224] → embedding and text int32 [batch_size,77] → embedding", async () => {
    const paths = testClipModelPaths(dir("immich"), "immich");
    const visual = await session(paths.visual);
    const textual = await session(paths.textual);
    expect(metadata(visual, "input")).toEqual([{ name: "image", type: "float32", shape: ["batch_size", 3, IMAGE_SIZE, IMAGE_SIZE] }]);
    expect(metadata(visual, "output")).toEqual([{ name: "embedding", type: "float32", shape: ["batch_size", EMBED_DIM] }]);
    expect(metadata(textual, "input")).toEqual([{ name: "text", type: "int32", shape: ["batch_size", CONTEXT] }]);
    expect(metadata(textual, "output")).toEqual([{ name: "embedding", type: "float32", shape: ["batch_size", EMBED_DIM] }]);
  });

  it("keeps each model file small", async () => {
    const paths = testClipModelPaths(dir("immich"), "immich");
    expect((await stat(paths.visual)).size).toBeLessThan(100_000);
    expect((await stat(paths.textual)).size).toBeLessThan(7_000_000);
  });
});

describe("writeTestClipModel: the Hugging Face layout", () => {
  it("writes CLIPConfig, the CLIPImageProcessor config and the tokenizer files at the top, graphs under onnx/", async () => {
    expect(await readJson(join(dir("hf"), "config.json"))).toMatchObject({
      model_type: "clip",
      projection_dim: EMBED_DIM,
      vision_config: { image_size: IMAGE_SIZE, patch_size: 32 },
      text_config: { max_position_embeddings: CONTEXT, vocab_size: 49408 },
    });
    expect(await readJson(join(dir("hf"), "preprocessor_config.json"))).toMatchObject({
      image_mean: [...OPENAI_CLIP_MEAN],
      image_std: [...OPENAI_CLIP_STD],
      resample: 3,
      size: { shortest_edge: IMAGE_SIZE },
      crop_size: { height: IMAGE_SIZE, width: IMAGE_SIZE },
      do_center_crop: true,
    });
    expect(await readJson(join(dir("hf"), "tokenizer_config.json"))).toMatchObject({ pad_token: "<|endoftext|>" });
    expect((await stat(join(dir("hf"), "tokenizer.json"))).isFile()).toBe(true);
    expect(testClipModelPaths(dir("hf"), "hf").visual).toBe(join(dir("hf"), "onnx", "vision_model.onnx"));
  });

  it("has pixel_values → image_embeds + last_hidden_state and int64 input_ids → text_embeds + last_hidden_state", async () => {
    const paths = testClipModelPaths(dir("hf"), "hf");
    const visual = await session(paths.visual);
    const textual = await session(paths.textual);
    expect(metadata(visual, "input")).toEqual([{ name: "pixel_values", type: "float32", shape: ["batch_size", "num_channels", "height", "width"] }]);
    expect(metadata(visual, "output")).toEqual([
      { name: "image_embeds", type: "float32", shape: ["batch_size", EMBED_DIM] },
      { name: "last_hidden_state", type: "float32", shape: ["batch_size", 50, TEST_VISION_WIDTH] },
    ]);
    expect(metadata(textual, "input")).toEqual([{ name: "input_ids", type: "int64", shape: ["batch_size", "sequence_length"] }]);
    expect(metadata(textual, "output")).toEqual([
      { name: "text_embeds", type: "float32", shape: ["batch_size", EMBED_DIM] },
      { name: "last_hidden_state", type: "float32", shape: ["batch_size", "sequence_length", TEST_TOKEN_WIDTH] },
    ]);
  });

  it("adds an int64 attention_mask input on request, and masked tokens stop counting", async () => {
    const textual = await session(testClipModelPaths(dir("hfMask"), "hf").textual);
    expect(textual.inputNames).toEqual(["input_ids", "attention_mask"]);
    const ids = textTensor("hf", [tokenRow(TEXTS[0] ?? [], 10, 0), tokenRow(TEXTS[0] ?? [], 10, 0)]);
    const mask = new Tensor("int64", BigInt64Array.from([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0].map(BigInt)), [2, 10]);
    const rows = rowsOf((await textual.run({ input_ids: ids, attention_mask: mask })).text_embeds);
    expect(cosine(rows[0], rows[1])).toBeLessThan(0.999);
  });
});

describe.each(["immich", "hf"] as const)("the %s test models", (layout) => {
  const names =
    layout === "immich"
      ? { image: "image", text: "text", imageOut: "embedding", textOut: "embedding" }
      : { image: "pixel_values", text: "input_ids", imageOut: "image_embeds", textOut: "text_embeds" };
  let visual: InferenceSession;
  let textual: InferenceSession;

  beforeAll(async () => {
    const paths = testClipModelPaths(dir(layout), layout);
    visual = await session(paths.visual);
    textual = await session(paths.textual);
  });

  const embedImages = async (s: InferenceSession, indices: number[]): Promise<number[][]> =>
    rowsOf((await s.run({ [names.image]: new Tensor("float32", imageBatch(indices), [indices.length, 3, IMAGE_SIZE, IMAGE_SIZE]) }))[names.imageOut]);
  const embedTexts = async (s: InferenceSession, rows: number[][]): Promise<number[][]> => rowsOf((await s.run({ [names.text]: textTensor(layout, rows) }))[names.textOut]);

  it("embeds one image and a batch of five; each row matches its single-image run; different images differ", async () => {
    const single = await embedImages(visual, [3]);
    expect(single).toHaveLength(1);
    expect(single[0]).toHaveLength(EMBED_DIM);
    const batch = await embedImages(visual, [0, 1, 2, 3, 4]);
    expect(batch).toHaveLength(5);
    expectRowsClose([batch[3] ?? []], single);
    expectAllDistinct(batch);
  });

  it("embeds one text and a batch of five; each row matches its single-text run; different texts differ", async () => {
    const rows = TEXTS.map((words) => tokenRow(words, CONTEXT, CLIP_EOS_ID));
    const single = await embedTexts(textual, [rows[2] ?? []]);
    expect(single[0]).toHaveLength(EMBED_DIM);
    const batch = await embedTexts(textual, rows);
    expect(batch).toHaveLength(5);
    expectRowsClose([batch[2] ?? []], single);
    expectAllDistinct(batch);
  });

  it("reads a text only up to its first end token, so pad id and pad length do not matter", async () => {
    const words = TEXTS[4] ?? [];
    const [padEos, padZero] = await embedTexts(textual, [tokenRow(words, CONTEXT, CLIP_EOS_ID), tokenRow(words, CONTEXT, 0)]);
    expectRowsClose([padZero ?? []], [padEos ?? []]);
    if (layout === "hf") {
      // optimum exports a dynamic sequence axis: transformers.js pads a batch to its longest text.
      const short = await embedTexts(textual, [tokenRow(words, words.length + 2, CLIP_EOS_ID)]);
      expectRowsClose(short, [padEos ?? []]);
    }
  });

  it("is deterministic for a seed: same seed, same bytes; another seed, other embeddings", async () => {
    const mine = testClipModelPaths(dir(layout), layout);
    const again = testClipModelPaths(dir(`${layout}Again`), layout);
    for (const tower of ["visual", "textual"] as const) {
      expect((await readFile(mine[tower])).equals(await readFile(again[tower])), tower).toBe(true);
    }
    const other = testClipModelPaths(dir(`${layout}Seed2`), layout);
    const [image] = await embedImages(visual, [1]);
    const [otherImage] = await embedImages(await session(other.visual), [1]);
    expect(cosine(image, otherImage)).toBeLessThan(0.99);
    const rows = [tokenRow(TEXTS[0] ?? [], CONTEXT, CLIP_EOS_ID)];
    const [text] = await embedTexts(textual, rows);
    const [otherText] = await embedTexts(await session(other.textual), rows);
    expect(cosine(text, otherText)).toBeLessThan(0.99);
  });
});

describe("the two layouts from one seed", () => {
  it("give the same embeddings for the same pixels and the same tokens", async () => {
    const immich = testClipModelPaths(dir("immich"), "immich");
    const hf = testClipModelPaths(dir("hf"), "hf");
    const pixels = imageBatch([0, 4]);
    const imageA = rowsOf((await (await session(immich.visual)).run({ image: new Tensor("float32", pixels, [2, 3, IMAGE_SIZE, IMAGE_SIZE]) })).embedding);
    const imageB = rowsOf((await (await session(hf.visual)).run({ pixel_values: new Tensor("float32", pixels, [2, 3, IMAGE_SIZE, IMAGE_SIZE]) })).image_embeds);
    expectRowsClose(imageB, imageA);
    const rows = [tokenRow(TEXTS[1] ?? [], CONTEXT, CLIP_EOS_ID)];
    const textA = rowsOf((await (await session(immich.textual)).run({ text: textTensor("immich", rows) })).embedding);
    const textB = rowsOf((await (await session(hf.textual)).run({ input_ids: textTensor("hf", rows) })).text_embeds);
    expectRowsClose(textB, textA);
  });
});

describe("a fixed-batch Immich export (what Immich's exporter writes today)", () => {
  it("declares batch 1, runs one item, and rejects a batch of five", async () => {
    const paths = testClipModelPaths(dir("immichFixed"), "immich");
    const visual = await session(paths.visual);
    const textual = await session(paths.textual);
    expect(metadata(visual, "input")).toEqual([{ name: "image", type: "float32", shape: [1, 3, IMAGE_SIZE, IMAGE_SIZE] }]);
    expect(metadata(textual, "input")).toEqual([{ name: "text", type: "int32", shape: [1, CONTEXT] }]);
    const one = rowsOf((await visual.run({ image: new Tensor("float32", imageBatch([2]), [1, 3, IMAGE_SIZE, IMAGE_SIZE]) })).embedding);
    expect(one[0]).toHaveLength(EMBED_DIM);
    await expect(visual.run({ image: new Tensor("float32", imageBatch([0, 1, 2, 3, 4]), [5, 3, IMAGE_SIZE, IMAGE_SIZE]) })).rejects.toThrow(/invalid dimensions/i);
    await expect(
      textual.run({
        text: textTensor(
          "immich",
          TEXTS.map((w) => tokenRow(w, CONTEXT, CLIP_EOS_ID)),
        ),
      }),
    ).rejects.toThrow(/invalid dimensions/i);
  });
});
