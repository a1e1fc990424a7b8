import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createBatcher } from "../../gpu-worker/ml/batcher";
import { type ClipModel, type ClipPreprocessConfig, loadClipModel, preprocessImage } from "../../gpu-worker/ml/clip";
import type { RawImage } from "../../gpu-worker/pipeline/index";
import { OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, testClipModelPaths, writeTestClipModel } from "../../scripts/models/make-test-clip";

const CONFIG: ClipPreprocessConfig = { size: 224, mean: OPENAI_CLIP_MEAN, std: OPENAI_CLIP_STD, kernel: "cubic" };
const PLANE = 224 * 224;

/** Seeded bytes (mulberry32), so a failure reproduces. */
function seededBytes(count: number, seed: number): Buffer {
  let state = seed >>> 0;
  const out = Buffer.alloc(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 255;
  }
  return out;
}

function raster(width: number, height: number, pixel: (x: number, y: number, c: number) => number): RawImage {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = pixel(x, y, c);
  return { data, width, height, channels: 3 };
}

/** The normalised value the model should see for an 8-bit level in channel c. */
const normalised = (level: number, c: number) => (level / 255 - (OPENAI_CLIP_MEAN[c] as number)) / (OPENAI_CLIP_STD[c] as number);
/** The 8-bit level back from a normalised value (to compare resampled pixels in levels). */
const level = (value: number, c: number) => (value * (OPENAI_CLIP_STD[c] as number) + (OPENAI_CLIP_MEAN[c] as number)) * 255;
const at = (out: Float32Array, c: number, x: number, y: number) => out[c * PLANE + y * 224 + x] as number;

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] as number))), 0);

describe("preprocessImage", () => {
  it("centre-crops a raster already at the input size and normalises each channel into its own plane (CHW)", async () => {
    // Shortest side 224 already, so no resampling: every output value is one source pixel, computed by hand.
    // 339 - 224 = 115 spare rows: the crop starts at floor(115 / 2) = 57, as Immich and transformers crop.
    for (const [width, height] of [
      [224, 339],
      [339, 224],
    ] as const) {
      const source = seededBytes(width * height * 3, width);
      const out = await preprocessImage({ data: source, width, height, channels: 3 }, CONFIG);
      expect(out).toHaveLength(3 * PLANE);
      const [left, top] = width > height ? [57, 0] : [0, 57];
      let worst = 0;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 224; y++) {
          for (let x = 0; x < 224; x++) {
            const expected = normalised(source[((y + top) * width + x + left) * 3 + c] as number, c);
            worst = Math.max(worst, Math.abs(at(out, c, x, y) - expected));
          }
        }
      }
      expect(worst, `${width}x${height}`).toBeLessThan(1e-5);
    }
  });

  it("resizes the shortest side to 224 and crops the long side's centre (448×672: bands stay exact, edges stay put)", async () => {
    // Red changes every 32 source rows, green every 32 source columns, blue is constant. Halved, bands are
    // 16 px; the 672-row side becomes 336 and loses 56 rows at the top. Any symmetric, normalised kernel
    // reaching ≤ 3 output px keeps a band's interior exact, and makes the two pixels astride an edge sum to
    // the two band levels: so this checks scale, crop offset and channel planes without assuming a kernel.
    const red = (band: number) => 40 + ((band * 53) % 160);
    const green = (band: number) => 40 + ((band * 97) % 160);
    const image = raster(448, 672, (x, y, c) => (c === 0 ? red(Math.floor(y / 32)) : c === 1 ? green(Math.floor(x / 32)) : 77));
    const out = await preprocessImage(image, CONFIG);
    expect(out).toHaveLength(3 * PLANE);

    for (let y = 0; y < 224; y++) {
      const row = y + 56; // in the resized 224×336 image
      const position = row % 16;
      for (const x of [0, 100, 223]) {
        if (position >= 3 && position <= 12) expect(at(out, 0, x, y), `red row ${y}`).toBeCloseTo(normalised(red(Math.floor(row / 16)), 0), 5);
        if (position === 0) {
          const sum = level(at(out, 0, x, y - 1), 0) + level(at(out, 0, x, y), 0);
          expect(Math.abs(sum - red(row / 16 - 1) - red(row / 16)), `red edge above row ${y}`).toBeLessThanOrEqual(1.01);
        }
      }
    }
    for (let x = 0; x < 224; x++) {
      const position = x % 16;
      if (position >= 3 && position <= 12) expect(at(out, 1, x, 50), `green column ${x}`).toBeCloseTo(normalised(green(Math.floor(x / 16)), 1), 5);
      if (position === 0 && x > 0) {
        const sum = level(at(out, 1, x - 1, 50), 1) + level(at(out, 1, x, 50), 1);
        expect(Math.abs(sum - green(x / 16 - 1) - green(x / 16)), `green edge left of column ${x}`).toBeLessThanOrEqual(1.01);
      }
    }
    for (const i of [0, 777, PLANE - 1]) expect(out[2 * PLANE + i]).toBeCloseTo(normalised(77, 2), 5);
    // The edges really are there (a blurred or shifted resize would not keep them this sharp).
    expect(Math.abs(at(out, 0, 0, 4) - at(out, 0, 0, 11))).toBeGreaterThan(0.3);
  });

  it("squashes without cropping when the config says so", async () => {
    // Top half black, bottom half white; a shortest-side crop of this 224×448 image would be all grey rows
    // from the middle, a squash keeps both halves.
    const image = raster(224, 448, (_x, y) => (y < 224 ? 0 : 255));
    const out = await preprocessImage(image, { ...CONFIG, resizeMode: "squash" });
    expect(at(out, 0, 10, 20)).toBeCloseTo(normalised(0, 0), 5);
    expect(at(out, 0, 10, 200)).toBeCloseTo(normalised(255, 0), 5);
  });

  it("rejects a raster whose buffer does not match its dimensions", async () => {
    await expect(preprocessImage({ data: Buffer.alloc(10), width: 4, height: 4, channels: 3 }, CONFIG)).rejects.toThrow(/4x4 RGB \(48 bytes\), got 10 bytes/);
  });
});

describe("createBatcher", () => {
  const tenfold = async (items: number[]) => items.map((n) => n * 10);

  it("fills batches up to maxBatch and gives every caller its own output", async () => {
    const batches: number[][] = [];
    const batcher = createBatcher<number, number>({
      maxBatch: 4,
      maxWaitMs: 20,
      run: async (items) => {
        batches.push(items);
        await new Promise((r) => setTimeout(r, 5));
        return items.map((n) => n * 10);
      },
    });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(i)));
    expect(results).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(batches).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(batcher.stats()).toMatchObject({ submitted: 10, completed: 10, batches: 3, largestBatch: 4, pending: 0, inFlight: 0 });
  });

  it("dispatches a partial batch maxWaitMs after its first item, not before", async () => {
    // The batcher's clock (setTimeout and performance.now) is faked: the test steps time, it does not wait for it.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    try {
      const batcher = createBatcher<number, number>({ maxBatch: 8, maxWaitMs: 40, run: tenfold });
      const results = Promise.all([batcher.submit(1), batcher.submit(2), batcher.submit(3)]);
      await vi.advanceTimersByTimeAsync(39);
      expect(batcher.stats()).toMatchObject({ batches: 0, pending: 3 });
      await vi.advanceTimersByTimeAsync(1);
      expect(await results).toEqual([10, 20, 30]);
      expect(batcher.stats()).toMatchObject({ batches: 1, largestBatch: 3 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("rejects every caller of a failed batch with its error, and only those", async () => {
    const failure = new Error("model exploded");
    const batcher = createBatcher<string, string>({
      maxBatch: 2,
      maxWaitMs: 5,
      run: async (items) => {
        if (items.includes("bad")) throw failure;
        return items.map((s) => s.toUpperCase());
      },
    });
    const outcomes = await Promise.allSettled(["a", "bad", "c", "d"].map((s) => batcher.submit(s)));
    expect(outcomes).toEqual([
      { status: "rejected", reason: failure },
      { status: "rejected", reason: failure },
      { status: "fulfilled", value: "C" },
      { status: "fulfilled", value: "D" },
    ]);
    expect(batcher.stats()).toMatchObject({ completed: 2, failed: 2, failedBatches: 1 });
  });

  it("fails a batch whose run returns the wrong number of outputs, or throws synchronously", async () => {
    const short = createBatcher<number, number>({ maxBatch: 3, maxWaitMs: 1, run: async (items) => items.slice(1) });
    await expect(Promise.all([short.submit(1), short.submit(2)])).rejects.toThrow(/returned 1 outputs for 2 items/);
    const sync = createBatcher<number, number>({
      maxBatch: 3,
      maxWaitMs: 1,
      run: () => {
        throw new Error("sync failure");
      },
    });
    await expect(sync.submit(1)).rejects.toThrow("sync failure");
  });

  it("close() sends what is waiting at once, waits for it, then refuses new items", async () => {
    // Time is frozen: the batch can only have gone out because close() sent it, not because a minute passed.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    try {
      const batcher = createBatcher<number, number>({ maxBatch: 64, maxWaitMs: 60_000, run: tenfold });
      const results = Promise.all([batcher.submit(1), batcher.submit(2), batcher.submit(3)]);
      await batcher.close();
      expect(await results).toEqual([10, 20, 30]);
      await expect(batcher.submit(4)).rejects.toThrow(/closed/);
      expect(batcher.stats()).toMatchObject({ submitted: 3, completed: 3, pending: 0, inFlight: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps a submitMany group together and runs up to `concurrency` batches at once", async () => {
    let running = 0;
    let peak = 0;
    const sizes: number[] = [];
    const batcher = createBatcher<number, number>({
      maxBatch: 5,
      maxWaitMs: 1,
      concurrency: 2,
      run: async (items) => {
        sizes.push(items.length);
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return items.map((n) => -n);
      },
    });
    const group = Array.from({ length: 12 }, (_, i) => i);
    expect(await batcher.submitMany(group)).toEqual(group.map((n) => -n));
    expect(sizes).toEqual([5, 5, 2]);
    expect(peak).toBe(2);
  });

  it("never loses or duplicates an item under bursty, failing load", async () => {
    const seen: number[] = [];
    const batcher = createBatcher<number, number>({
      maxBatch: 7,
      maxWaitMs: 2,
      concurrency: 2,
      run: async (items) => {
        seen.push(...items);
        await new Promise((r) => setTimeout(r, items.length % 3));
        if (items.some((n) => n % 97 === 0)) throw new Error(`batch with ${items.join(",")}`);
        return items.map((n) => n * 2);
      },
    });
    // Settled as they are submitted, so a rejection is handled while later bursts are still going in.
    const pending: Promise<PromiseSettledResult<number>>[] = [];
    for (let burst = 0; burst < 30; burst++) {
      for (let i = 0; i < (burst * 7) % 13; i++) {
        pending.push(
          batcher.submit(pending.length).then(
            (value): PromiseSettledResult<number> => ({ status: "fulfilled", value }),
            (reason: unknown): PromiseSettledResult<number> => ({ status: "rejected", reason }),
          ),
        );
      }
      await new Promise((r) => setTimeout(r, burst % 4));
    }
    const outcomes = await Promise.all(pending);
    await batcher.close();
    expect([...seen].sort((a, b) => a - b)).toEqual(pending.map((_, i) => i));
    outcomes.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") expect(outcome.value).toBe(i * 2);
      else expect(String(outcome.reason)).toMatch(new RegExp(`(^|\\D)${i}(\\D|$)`));
    });
    expect(outcomes.filter((o) => o.status === "rejected").length).toBeGreaterThan(0);
  });

  it("refuses a maxBatch outside 1–64", () => {
    expect(() => createBatcher({ maxBatch: 0, maxWaitMs: 1, run: tenfold })).toThrow(/1 to 64/);
    expect(() => createBatcher({ maxBatch: 65, maxWaitMs: 1, run: tenfold })).toThrow(/1 to 64/);
  });
});

describe("loadClipModel", () => {
  let root: string;
  const models: ClipModel[] = [];
  const load = async (dir: string, options: Parameters<typeof loadClipModel>[1] = {}) => {
    const model = await loadClipModel(dir, { intraOpNumThreads: 1, ...options });
    models.push(model);
    return model;
  };
  const scene = (seed: number, width: number, height: number): RawImage => ({ data: seededBytes(width * height * 3, seed), width, height, channels: 3 });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "clip-test-"));
  });

  afterAll(async () => {
    await Promise.all(models.map((m) => m.close()));
    await rm(root, { recursive: true, force: true });
  });

  describe.each(["immich", "hf"] as const)("the %s layout", (layout) => {
    let dir: string;
    let model: ClipModel;
    const logged: string[] = [];

    beforeAll(async () => {
      dir = join(root, `${layout}-model`);
      await writeTestClipModel(dir, { layout, embedDim: 32 });
      model = await load(dir, { maxBatch: 8, maxWaitMs: 5, log: (message) => logged.push(message) });
    });

    it("reads the configs and reports the execution provider it fell back to", () => {
      expect(model).toMatchObject({ modelId: `${layout}-model`, layout, embedDim: 32, imageSize: 224, contextLength: 77 });
      expect(model.preprocess).toMatchObject({ size: 224, kernel: "cubic", resizeMode: "shortest", mean: OPENAI_CLIP_MEAN, std: OPENAI_CLIP_STD });
      expect(model.version).toMatch(/^onnx-sha256:[0-9a-f]{12}\+shortest-cubic-224$/);
      expect(["cuda", "cpu"]).toContain(model.provider);
      expect(logged).toEqual([`CLIP ${layout}-model: using the ${model.provider} execution provider`]);
    });

    it("embeds images as unit vectors of the configured size, the same in a batch as alone", async () => {
      const images = [scene(1, 640, 480), scene(2, 480, 640), scene(3, 300, 300), raster(500, 400, () => 128)];
      const together = await model.embedImages(images);
      expect(together).toHaveLength(4);
      for (const [i, image] of images.entries()) {
        const embedding = together[i] as Float32Array;
        expect(embedding).toHaveLength(32);
        expect(norm(embedding)).toBeCloseTo(1, 5);
        expect(maxAbsDiff(embedding, await model.embedImage(image))).toBeLessThan(1e-5);
      }
      expect(dot(together[0] as Float32Array, together[3] as Float32Array)).toBeLessThan(0.999);
      expect(dot(together[0] as Float32Array, together[1] as Float32Array)).toBeLessThan(0.999);
    });

    it("embeds texts as unit vectors, the same in a batch as alone, different for different texts", async () => {
      const texts = ["a red bicycle against a brick wall", "snowy mountains at dawn", "a bowl of ramen", ""];
      const together = await model.embedTexts(texts);
      expect(together).toHaveLength(4);
      for (const [i, text] of texts.entries()) {
        const embedding = together[i] as Float32Array;
        expect(embedding).toHaveLength(32);
        expect(norm(embedding)).toBeCloseTo(1, 5);
        const [alone] = await model.embedTexts([text]);
        expect(maxAbsDiff(embedding, alone as Float32Array)).toBeLessThan(1e-5);
      }
      expect(dot(together[0] as Float32Array, together[1] as Float32Array)).toBeLessThan(0.999);
      expect(dot(together[1] as Float32Array, together[2] as Float32Array)).toBeLessThan(0.999);
    });

    it("shares session runs between concurrent embedTexts callers", async () => {
      const before = model.stats().texts;
      const calls = Array.from({ length: 12 }, (_, i) => model.embedTexts([`query number ${i}`]));
      const results = await Promise.all(calls);
      const after = model.stats().texts;
      expect(results.every((r) => r.length === 1 && r[0]?.length === 32)).toBe(true);
      expect(after.submitted - before.submitted).toBe(12);
      expect(after.batches - before.batches).toBeLessThanOrEqual(2);
      expect(after.largestBatch).toBe(8);
    });
  });

  it("feeds the attention mask to a Hugging Face text model that takes one", async () => {
    const plain = join(root, "hf-plain");
    const masked = join(root, "hf-masked");
    await writeTestClipModel(plain, { layout: "hf", seed: 5 });
    await writeTestClipModel(masked, { layout: "hf", seed: 5, attentionMask: true });
    const texts = ["a lighthouse in a storm", "two cats"];
    // Same weights: with the mask fed as the tokenizer made it, the two graphs agree.
    const [a, b] = await Promise.all([
      (await load(plain, { executionProviders: ["cpu"] })).embedTexts(texts),
      (await load(masked, { executionProviders: ["cpu"] })).embedTexts(texts),
    ]);
    for (const i of [0, 1]) expect(maxAbsDiff(a[i] as Float32Array, b[i] as Float32Array)).toBeLessThan(1e-5);
  });

  it("falls back to the shipped BPE vocabulary when the folder has no tokenizer.json, with the same ids", async () => {
    const withJson = join(root, "immich-tokenizer-json");
    const withoutJson = join(root, "immich-no-tokenizer");
    await writeTestClipModel(withJson, { layout: "immich", seed: 3 });
    await writeTestClipModel(withoutJson, { layout: "immich", seed: 3 });
    await rm(join(withoutJson, "textual", "tokenizer.json"));
    const texts = ["Café au lait & croissant", "it’s a sunny day"];
    const a = await (await load(withJson, { executionProviders: ["cpu"] })).embedTexts(texts);
    const b = await (await load(withoutJson, { executionProviders: ["cpu"] })).embedTexts(texts);
    for (const i of [0, 1]) expect(maxAbsDiff(a[i] as Float32Array, b[i] as Float32Array)).toBeLessThan(1e-6);
  });

  it("runs one item per session.run when the graphs pin the batch to 1", async () => {
    const dir = join(root, "immich-fixed");
    await writeTestClipModel(dir, { layout: "immich", fixedBatch: true });
    const model = await load(dir, { executionProviders: ["cpu"], maxBatch: 32 });
    const texts = ["one", "two", "three"];
    const embeddings = await model.embedTexts(texts);
    expect(model.stats().texts).toMatchObject({ batches: 3, largestBatch: 1 });
    expect(embeddings.map((e) => e.length)).toEqual([32, 32, 32]);
    expect((await model.embedImages([scene(4, 320, 240), scene(5, 240, 320)])).length).toBe(2);
  });

  it("changes version with the weights, and the provider is CPU when asked for", async () => {
    const dir = join(root, "immich-seed-9");
    await writeTestClipModel(dir, { layout: "immich", seed: 9 });
    const other = await load(dir, { executionProviders: ["cpu"] });
    const first = models.find((m) => m.modelId === "immich-model");
    expect(other.provider).toBe("cpu");
    expect(other.version).not.toBe(first?.version);
  });

  it("rejects graphs with the other layout's names, naming the file and what it found", async () => {
    const dir = join(root, "hf-with-immich-visual");
    await writeTestClipModel(dir, { layout: "hf" });
    await writeTestClipModel(join(root, "donor"), { layout: "immich" });
    await copyFile(testClipModelPaths(join(root, "donor"), "immich").visual, testClipModelPaths(dir, "hf").visual);
    const loading = loadClipModel(dir, { executionProviders: ["cpu"] });
    await expect(loading).rejects.toThrow(/vision_model\.onnx is not a CLIP image encoder/);
    await expect(loading).rejects.toThrow(/expected input "pixel_values" float32 \[batch,3,224,224\].*found inputs "image" float32 \[batch_size,3,224,224\]/);
  });

  it("rejects graphs whose embedding size disagrees with config.json", async () => {
    const dir = join(root, "immich-wrong-dim");
    await writeTestClipModel(dir, { layout: "immich", embedDim: 32 });
    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { embed_dim: number };
    await writeFile(join(dir, "config.json"), JSON.stringify({ ...config, embed_dim: 64 }));
    await expect(loadClipModel(dir, { executionProviders: ["cpu"] })).rejects.toThrow(/output "embedding" float32 \[batch,64\]; found .*"embedding" float32 \[batch_size,32\]/);
  });

  it("rejects a preprocessing config that disagrees with the model config", async () => {
    const dir = join(root, "immich-wrong-size");
    await writeTestClipModel(dir, { layout: "immich" });
    const path = join(dir, "visual", "preprocess_cfg.json");
    const pre = JSON.parse(await readFile(path, "utf8")) as object;
    await writeFile(path, JSON.stringify({ ...pre, size: [256, 256] }));
    await expect(loadClipModel(dir)).rejects.toThrow(/vision_cfg\.image_size 224 differs from preprocess_cfg\.json size 256/);
  });

  it("fails clearly for a missing folder and for a folder in neither layout", async () => {
    await expect(loadClipModel(join(root, "nope"))).rejects.toThrow(/CLIP model folder .*nope does not exist/);
    const empty = join(root, "stray");
    await mkdir(empty);
    await writeFile(join(empty, "model.safetensors"), "");
    await expect(loadClipModel(empty)).rejects.toThrow(/stray is not a CLIP model folder: expected the Immich layout .* found model\.safetensors/);
    const partial = join(root, "partial");
    await writeTestClipModel(partial, { layout: "immich" });
    await rm(join(partial, "textual", "model.onnx"));
    await expect(loadClipModel(partial)).rejects.toThrow(/partial looks like an Immich CLIP folder .* but lacks textual\/model\.onnx/);
  });
});
