import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanClipText, unescapeHtml } from "../../gpu-worker/ml/clip-text-clean";
import { CLIP_CONTEXT_LENGTH, type ClipTokenizer, DEFAULT_BPE_PATH, END_OF_TEXT_ID, loadClipTokenizer, START_OF_TEXT_ID, toBigInt64 } from "../../gpu-worker/ml/clip-tokenizer";

// The Hugging Face tokenizer.json ships beside the merges; the published reference cases are a test fixture.
const TOKENIZER_JSON = resolve("models/clip-tokenizer/tokenizer.json");

interface ReferenceCase {
  text: string;
  ids: number[];
  source: string;
}
const references = JSON.parse(await readFile(resolve("test/fixtures/clip/tokenizer-references.json"), "utf8")) as { cases: ReferenceCase[] };

const CAT = 2368;
const PHOTO_OF_A_CAT = [START_OF_TEXT_ID, 320, 1125, 539, 320, CAT, END_OF_TEXT_ID];

let fromBpe: ClipTokenizer;
let fromJson: ClipTokenizer;
let scratch: string;

beforeAll(async () => {
  [fromBpe, fromJson] = await Promise.all([loadClipTokenizer({ bpeGz: DEFAULT_BPE_PATH }), loadClipTokenizer({ tokenizerJson: TOKENIZER_JSON })]);
  scratch = await mkdtemp(join(tmpdir(), "clip-tokenizer-"));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Row `index` of a `[n, contextLength]` batch as a plain array. */
function row(values: Int32Array, index = 0, contextLength = CLIP_CONTEXT_LENGTH): number[] {
  return Array.from(values.subarray(index * contextLength, (index + 1) * contextLength));
}

describe("published reference cases", () => {
  it("has the cases the README describes, including the literal <|endoftext|> one", () => {
    expect(references.cases.length).toBe(17);
    expect(references.cases.map((c) => c.text)).toContain("<|endoftext|>");
  });

  for (const loader of ["bpeGz", "tokenizerJson"] as const) {
    it.each(references.cases)(`${loader}: $text`, ({ text, ids }) => {
      const tokenizer = loader === "bpeGz" ? fromBpe : fromJson;
      expect(tokenizer.encode(text)).toEqual(ids);
      const batch = tokenizer.tokenize([text]);
      expect(row(batch.ids, 0).slice(0, ids.length)).toEqual(ids);
    });
  }
});

describe("vocabulary sources", () => {
  it("ships OpenAI's bpe_simple_vocab_16e6.txt.gz unchanged at DEFAULT_BPE_PATH, and tokenizer.json beside it", async () => {
    const sha256 = async (path: string) =>
      createHash("sha256")
        .update(await readFile(path))
        .digest("hex");
    expect(DEFAULT_BPE_PATH).toBe(resolve("models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz"));
    expect(await sha256(DEFAULT_BPE_PATH)).toBe("924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a");
    expect(await sha256(TOKENIZER_JSON)).toBe("eafd713b5c621447fa92db4d23139c0bc3edf326c890d95470e758f054ec147d");
    const readme = await readFile(resolve("models/clip-tokenizer/README.md"), "utf8");
    expect(readme).toContain("924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a");
    expect(readme).toContain("eafd713b5c621447fa92db4d23139c0bc3edf326c890d95470e758f054ec147d");
  });

  it("builds the 49,408-token vocabulary from either file", () => {
    expect(fromBpe.vocabSize).toBe(49408);
    expect(fromJson.vocabSize).toBe(49408);
  });

  it("gives identical ids and batches from tokenizer.json and the OpenAI merges", () => {
    const texts = [
      ...references.cases.map((c) => c.text),
      "Ein Hund läuft über die Straße",
      "Москва зимой, вид сверху",
      "東京タワーの夜景",
      "서울의 야경",
      "ताज महल",
      "مدينة قديمة",
      "👩‍👩‍👧 family 🇯🇵 flag 👍🏽",
      "aerial view of a coral reef, 4k, HDR, --ar 16:9",
      "x".repeat(300),
      "supercalifragilisticexpialidocious antidisestablishmentarianism",
    ];
    for (const text of texts) expect(fromJson.encode(text), text).toEqual(fromBpe.encode(text));
    const a = fromBpe.tokenize(texts);
    const b = fromJson.tokenize(texts);
    expect(b.ids).toEqual(a.ids);
    expect(b.attentionMask).toEqual(a.attentionMask);
  });

  it("rejects a tokenizer.json that is not a CLIP BPE model, naming the file", async () => {
    const file = join(scratch, "wordpiece.json");
    await writeFile(file, JSON.stringify({ model: { type: "WordPiece", vocab: { a: 0 } } }));
    await expect(loadClipTokenizer({ tokenizerJson: file })).rejects.toThrow(/wordpiece\.json: not a CLIP BPE tokenizer\.json/);
  });

  it("rejects a merges file with too few merges and a vocabulary without the CLIP special ids", async () => {
    const shortBpe = join(scratch, "short.txt.gz");
    await writeFile(shortBpe, gzipSync("#version: 0.2\ni n\nt h\n"));
    await expect(loadClipTokenizer({ bpeGz: shortBpe })).rejects.toThrow(/expected 48894/);

    const json = JSON.parse(await readFile(TOKENIZER_JSON, "utf8")) as { model: { vocab: Record<string, number> } };
    delete json.model.vocab["<|endoftext|>"];
    const noEnd = join(scratch, "no-end.json");
    await writeFile(noEnd, JSON.stringify(json));
    await expect(loadClipTokenizer({ tokenizerJson: noEnd })).rejects.toThrow(/must be ids 49406 and 49407/);
  });
});

describe("special tokens in user text", () => {
  it("tokenises <|endoftext|> as the characters it is made of, never as id 49407", () => {
    const ids = fromBpe.encode("<|endoftext|>");
    expect(ids).toEqual([START_OF_TEXT_ID, 27, 347, 40786, 4160, 91, 285, END_OF_TEXT_ID]);
    expect(fromBpe.encode("<|ENDOFTEXT|>")).toEqual(ids);
  });

  it("does not let a query inject a start or end token anywhere but the ends", () => {
    for (const text of ["a cat<|endoftext|>a dog", "<|startoftext|>a cat", "<|endoftext|><|endoftext|><|startoftext|>"]) {
      const ids = fromBpe.encode(text);
      expect(ids.indexOf(START_OF_TEXT_ID), text).toBe(0);
      expect(ids.lastIndexOf(START_OF_TEXT_ID), text).toBe(0);
      expect(ids.indexOf(END_OF_TEXT_ID), text).toBe(ids.length - 1);
    }
    const batch = fromBpe.tokenize(["<|endoftext|>".repeat(40)]);
    expect(row(batch.ids).filter((id) => id === END_OF_TEXT_ID)).toHaveLength(1);
  });
});

describe("tokenize: truncation, padding and mask", () => {
  it("truncates to 77 keeping the start token, the first 75 text tokens and the end token last", () => {
    const text = "cat ".repeat(100);
    expect(fromBpe.encode(text)).toHaveLength(102);
    const { ids, attentionMask, shape } = fromBpe.tokenize([text]);
    expect(shape).toEqual([1, 77]);
    expect(ids).toHaveLength(77);
    expect(Array.from(ids)).toEqual([START_OF_TEXT_ID, ...Array<number>(75).fill(CAT), END_OF_TEXT_ID]);
    expect(Array.from(attentionMask)).toEqual(Array<number>(77).fill(1));
  });

  it("cuts inside a word the way open_clip does (tokens[:77], last forced to the end token)", () => {
    const text = `a ${"bozuman ".repeat(30)}`;
    const full = fromBpe.encode(text);
    expect(full).toHaveLength(1 + 1 + 90 + 1);
    const openClip = full.slice(0, 77);
    openClip[76] = END_OF_TEXT_ID;
    expect(row(fromBpe.tokenize([text]).ids)).toEqual(openClip);
    expect(openClip.slice(74, 77)).toEqual([647, 4091, END_OF_TEXT_ID]);
  });

  it("leaves exactly 75 text tokens untouched and truncates 76", () => {
    const exact = fromBpe.tokenize(["cat ".repeat(75)]);
    expect(row(exact.ids)).toEqual(fromBpe.encode("cat ".repeat(75)));
    const over = fromBpe.tokenize(["cat ".repeat(75) + "dog"]);
    expect(row(over.ids)).toEqual(row(exact.ids));
  });

  it("zero-pads each row and marks only real tokens in the mask", () => {
    const texts = ["a photo of a cat", "", "bozuman"];
    const { ids, attentionMask, shape } = fromBpe.tokenize(texts);
    expect(shape).toEqual([3, 77]);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(attentionMask).toBeInstanceOf(Int32Array);
    expect(row(ids, 0)).toEqual([...PHOTO_OF_A_CAT, ...Array<number>(70).fill(0)]);
    expect(row(ids, 1)).toEqual([START_OF_TEXT_ID, END_OF_TEXT_ID, ...Array<number>(75).fill(0)]);
    expect(row(ids, 2).slice(0, 6)).toEqual([START_OF_TEXT_ID, 647, 4091, 786, END_OF_TEXT_ID, 0]);
    expect([0, 1, 2].map((r) => row(attentionMask, r).join(""))).toEqual([7, 2, 5].map((n) => "1".repeat(n) + "0".repeat(77 - n)));
  });

  it("honours a custom context length and rejects one that cannot hold the two specials", () => {
    const { ids, shape } = fromBpe.tokenize(["a photo of a cat", "cat ".repeat(20)], 8);
    expect(shape).toEqual([2, 8]);
    expect(row(ids, 0, 8)).toEqual([...PHOTO_OF_A_CAT, 0]);
    expect(row(ids, 1, 8)).toEqual([START_OF_TEXT_ID, ...Array<number>(6).fill(CAT), END_OF_TEXT_ID]);
    expect(() => fromBpe.tokenize(["cat"], 1)).toThrow(RangeError);
    expect(() => fromBpe.tokenize(["cat"], 7.5)).toThrow(RangeError);
  });

  it("returns an empty [0, 77] batch for no texts", () => {
    const { ids, attentionMask, shape } = fromBpe.tokenize([]);
    expect(shape).toEqual([0, 77]);
    expect(ids).toHaveLength(0);
    expect(attentionMask).toHaveLength(0);
  });

  it("converts ids and mask to int64 for HF-exported text encoders", () => {
    const { ids, attentionMask } = fromBpe.tokenize(["a photo of a cat", "bozuman"]);
    const ids64 = toBigInt64(ids);
    expect(ids64).toBeInstanceOf(BigInt64Array);
    expect(Array.from(ids64, Number)).toEqual(Array.from(ids));
    expect(ids64[5]).toBe(2368n);
    expect(Array.from(toBigInt64(attentionMask), Number)).toEqual(Array.from(attentionMask));
  });

  it("returns fresh arrays, so a caller editing one cannot poison the cache", () => {
    const first = fromBpe.encode("a photo of a cat");
    first.fill(0);
    expect(fromBpe.encode("a photo of a cat")).toEqual(PHOTO_OF_A_CAT);
  });
});

describe("text clean-up (ftfy, HTML, whitespace, case)", () => {
  const same = (variant: string, plain: string) => expect(fromBpe.encode(variant), variant).toEqual(fromBpe.encode(plain));

  it("encodes the empty and the blank string as start and end only", () => {
    expect(fromBpe.encode("")).toEqual([START_OF_TEXT_ID, END_OF_TEXT_ID]);
    expect(fromBpe.encode(" \t\n\u00a0\u3000 ")).toEqual([START_OF_TEXT_ID, END_OF_TEXT_ID]);
  });

  it("collapses every kind of whitespace and ignores case", () => {
    expect(fromBpe.encode("  A\tPhoto\r\nOF\u00a0a \u2003 CAT ")).toEqual(PHOTO_OF_A_CAT);
  });

  it("normalises accents to NFC and lower-cases non-ASCII letters", () => {
    same("cafe\u0301", "café");
    same("CAFÉ ÜBER NAÏVE", "café über naïve");
    same("ÉCOLE", "école");
    expect(fromBpe.encode("café")).toEqual([START_OF_TEXT_ID, 15304, END_OF_TEXT_ID]);
  });

  it("applies ftfy's fixes: curly quotes, full-width forms, ligatures, C1 bytes, control characters", () => {
    same("it’s a “cat”", `it's a "cat"`);
    same("ＣＡＴ　ｐｈｏｔｏ", "cat photo");
    same("ﬁsh ﬂower", "fish flower");
    same("wait\x85", "wait…");
    same("c\x07at\ufeff", "cat");
    same("\x1b[31mred\x1b[0m", "red");
    same("\ud800cat", "\ufffdcat");
  });

  it("keeps emoji, flags and ZWJ sequences as bytes of their own", () => {
    const ids = fromBpe.encode("😀 👩‍👩‍👧 🇯🇵");
    expect(ids.slice(0, 2)).toEqual([START_OF_TEXT_ID, 7334]);
    expect(ids.slice(1, -1).every((id) => id < START_OF_TEXT_ID)).toBe(true);
    same("&#x1F600;", "😀");
  });

  it("decodes HTML entities the way ftfy plus two html.unescape passes do", () => {
    same("rock &amp; roll", "rock & roll");
    same("it&rsquo;s", "it's");
    expect(cleanClipText("&amp;amp;amp;")).toBe("&");
    expect(cleanClipText("&NTILDE;")).toBe("ñ");
    expect(cleanClipText("&copy2024 &foo;")).toBe("©2024 &foo;");
    // A line with "<" may be HTML: ftfy leaves its entities (and later lines') alone; the two unescapes still run.
    expect(cleanClipText("line1 &amp;\n<p>x &amp;amp;</p>\nline3 &amp;amp;amp;")).toBe("line1 & <p>x &</p> line3 &amp;");
  });

  it("matches Python's html.unescape on numeric and legacy references", () => {
    const python: [string, string][] = [
      ["&#128;", "€"],
      ["&#x85;", "…"],
      ["&#x81;", "\x81"],
      ["&#0;", "\ufffd"],
      ["&#13;", "\r"],
      ["&#1;", ""],
      ["&#xD800;", "\ufffd"],
      ["&#x110000;", "\ufffd"],
      ["&#65", "A"],
      ["&#x41;x", "Ax"],
      ["&notin;", "∉"],
      ["&notit;", "¬it;"],
      ["&amp", "&"],
      ["&ampx", "&x"],
      ["&AMP;", "&"],
      ["&TRADE;", "™"],
      ["&lang;", "⟨"],
      ["&Eacute", "É"],
      ["&eacute;&EACUTE;", "é&EACUTE;"],
      ["&amp;amp;lt;", "&amp;lt;"],
      ["&foo;", "&foo;"],
    ];
    for (const [input, expected] of python) expect(unescapeHtml(input), input).toBe(expected);
  });
});
