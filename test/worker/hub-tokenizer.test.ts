import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClipModel, loadClipModel } from "../../gpu-worker/ml/clip";
import { isClipBpe, loadHubTokenizer } from "../../gpu-worker/ml/hub-tokenizer";
import { testClipModelPaths, UNIGRAM_DIR, writeTestClipModel, XLMR_PAD_ID } from "../../scripts/models/make-test-clip";

/**
 * The tokenizer.json path (tokenizers.js) against SentencePiece itself: `references.json` holds what
 * Google's `spm_encode` gives for each text over the fixture's model (scripts/models/make-test-tokenizer.ts),
 * in XLM-RoBERTa's fairseq order.
 */
interface Reference {
  text: string;
  spmIds: number[];
  ids: number[];
}
const references = JSON.parse(await readFile(join(UNIGRAM_DIR, "references.json"), "utf8")) as { cases: Reference[] };
const TOKENIZER = join(UNIGRAM_DIR, "tokenizer.json");
const BOS = 0;
const EOS = 2;

describe("loadHubTokenizer (SentencePiece Unigram in tokenizer.json)", () => {
  it("gives SentencePiece's ids for every reference text: 13 scripts, NFKC folds, unknown characters", async () => {
    const tokenizer = await loadHubTokenizer(TOKENIZER);
    expect(references.cases.length).toBeGreaterThanOrEqual(20);
    for (const { text, ids } of references.cases) expect({ text, ids: tokenizer.encode(text) }).toEqual({ text, ids });
    // The references are not trivial: unknown characters (emoji, Thai) map to <unk>, full-width letters fold.
    expect(references.cases.find((c) => c.text.startsWith("an emoji"))?.ids).toContain(3);
    expect(references.cases.find((c) => c.text.startsWith("ＡＢＣ"))?.ids).toEqual(tokenizer.encode("ABC 123 カタカナ"));
    expect(references.cases.find((c) => c.text.startsWith("ﬁsh"))?.ids).toEqual(tokenizer.encode("fish and flowers"));
  });

  it("pads with the pad token's id (1), masks the padding, and keeps <s> and </s> when it truncates", async () => {
    const tokenizer = await loadHubTokenizer(TOKENIZER);
    const short = references.cases[0] as Reference;
    const long = `${short.text} `.repeat(10);
    const width = 24;
    const batch = tokenizer.tokenize([short.text, long], width);
    expect(batch.shape).toEqual([2, width]);
    const row = (r: number) => Array.from(batch.ids.slice(r * width, (r + 1) * width));
    const mask = (r: number) => Array.from(batch.attentionMask.slice(r * width, (r + 1) * width));
    const n = short.ids.length;
    expect(n).toBeLessThan(width);
    expect(row(0)).toEqual([...short.ids, ...Array(width - n).fill(XLMR_PAD_ID)]);
    expect(mask(0)).toEqual([...Array(n).fill(1), ...Array(width - n).fill(0)]);
    // The long text repeats the short one, so its first text ids are the short one's.
    expect(row(1)).toEqual([BOS, ...short.ids.slice(1, n - 1), ...short.ids.slice(1, width - n + 1), EOS]);
    expect(mask(1)).toEqual(Array(width).fill(1));
  });

  it("removes special tokens typed into a query instead of emitting them", async () => {
    const tokenizer = await loadHubTokenizer(TOKENIZER);
    const plain = tokenizer.encode("red bicycle");
    expect(tokenizer.encode("<s> red </s> bicycle <pad>")).toEqual(plain);
    expect(plain.filter((id) => id === BOS || id === EOS || id === XLMR_PAD_ID)).toEqual([BOS, EOS]);
  });

  it("cleans text as Immich does: whitespace and HTML entities always, lower case and punctuation only when canonicalising", async () => {
    const plain = await loadHubTokenizer(TOKENIZER);
    const canonical = await loadHubTokenizer(TOKENIZER, { canonicalize: true });
    expect(plain.encode("  Geschäftsleute &amp;\n im  Büro ")).toEqual(plain.encode("Geschäftsleute & im Büro"));
    expect(plain.encode("UPPER CASE")).not.toEqual(plain.encode("upper case"));
    expect(canonical.encode("UPPER, CASE!")).toEqual(plain.encode("upper case"));
  });

  it("tells CLIP's BPE tokenizer.json from the others", async () => {
    expect(isClipBpe(JSON.parse(await readFile(join(import.meta.dirname, "../../models/clip-tokenizer/tokenizer.json"), "utf8")))).toBe(true);
    expect(isClipBpe(JSON.parse(await readFile(TOKENIZER, "utf8")))).toBe(false);
  });

  it("names the file when it is not a tokenizer.json or its pad token is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hub-tokenizer-"));
    try {
      await writeFile(join(dir, "tokenizer.json"), JSON.stringify({ hello: 1 }));
      await expect(loadHubTokenizer(join(dir, "tokenizer.json"))).rejects.toThrow(/tokenizer\.json: not a tokenizer\.json/);
      await writeFile(join(dir, "tokenizer.json"), await readFile(TOKENIZER));
      await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ pad_token: "<nothing>" }));
      await expect(loadHubTokenizer(join(dir, "tokenizer.json"))).rejects.toThrow(/pad_token "<nothing>" is not in/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("loadClipModel with a multilingual text tower (Immich layout)", () => {
  let root: string;
  const models: ClipModel[] = [];
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "clip-multilingual-"));
  });
  afterAll(async () => {
    await Promise.all(models.map((m) => m.close()));
    await rm(root, { recursive: true, force: true });
  });

  /** The text graph run directly on SentencePiece's ids, padded as the tower expects: what the loader must reproduce. */
  async function direct(dir: string, tower: "xlm-roberta" | "mclip", ids: number[]): Promise<Float32Array> {
    const session = await ort.InferenceSession.create(testClipModelPaths(dir, "immich").textual);
    try {
      const padded = new Int32Array(77).fill(XLMR_PAD_ID);
      padded.set(ids);
      const mask = new Int32Array(77);
      mask.fill(1, 0, ids.length);
      const feeds: Record<string, ort.Tensor> =
        tower === "mclip"
          ? { input_ids: new ort.Tensor("int32", padded, [1, 77]), attention_mask: new ort.Tensor("int32", mask, [1, 77]) }
          : { text: new ort.Tensor("int32", padded, [1, 77]) };
      const out = (await session.run(feeds)).embedding?.data as Float32Array;
      const length = Math.hypot(...out);
      return out.map((x) => x / length);
    } finally {
      await session.release();
    }
  }

  it.each(["xlm-roberta", "mclip"] as const)("%s: embeds each text from SentencePiece's ids, the same alone as in a batch", async (tower) => {
    const dir = join(root, tower);
    await writeTestClipModel(dir, { layout: "immich", textTower: tower, embedDim: 512, seed: 11 });
    const model = await loadClipModel(dir, { executionProviders: ["cpu"], intraOpNumThreads: 1, maxBatch: 8 });
    models.push(model);
    expect(model).toMatchObject({ embedDim: 512, contextLength: 77 });
    const cases = references.cases.slice(0, 8);
    const together = await model.embedTexts(cases.map((c) => c.text));
    for (const [i, { text, ids }] of cases.entries()) {
      const expected = await direct(dir, tower, ids);
      const got = together[i] as Float32Array;
      expect(got).toHaveLength(512);
      const diff = got.reduce((m, x, j) => Math.max(m, Math.abs(x - (expected[j] as number))), 0);
      expect({ text, diff: diff < 1e-5 }).toEqual({ text, diff: true });
    }
    // Different languages for the same picture are different token sequences, so different embeddings here.
    expect(Array.from(together[0] as Float32Array)).not.toEqual(Array.from(together[1] as Float32Array));
  });
});
