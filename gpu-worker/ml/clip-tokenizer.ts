import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import * as v from "valibot";
import { cleanClipText, PY_WHITESPACE } from "./clip-text-clean";

/**
 * OpenAI CLIP's byte-level BPE tokenizer (openai/CLIP `clip/simple_tokenizer.py`, which HF `CLIPTokenizer`
 * and open_clip match): the text clean-up of `./clip-text-clean`, the same pre-tokenising regex, bytes
 * mapped to printable characters, BPE merges with `</w>` closing each word, then `<|startoftext|>` … `<|endoftext|>`.
 *
 * Special tokens in user text: never. `<|startoftext|>` / `<|endoftext|>` typed into the search box are
 * tokenised as the punctuation and letters they are made of (`<`, `|</w>`, `endof`, `text</w>`, `|`, `></w>`),
 * as the published reference case expects, so a query cannot end itself early or forge a sequence boundary.
 * OpenAI's tokenizer (and HF's, which splits added tokens first) would emit 49407 there instead; the
 * pre-tokeniser below is OpenAI's pattern without its two special-token alternatives, which are the only
 * difference.
 *
 * Truncation (`tokenize`): open_clip's rule, `tokens[:77]` with the last one forced to `<|endoftext|>`, i.e.
 * the start token, the first 75 text tokens, the end token. OpenAI's `clip.tokenize(truncate=True)` and HF
 * (`truncation=True, max_length=77`) give the same ids. The references hold no over-long case (the longest is
 * 35 tokens), so the tests build their own.
 *
 * Cost: ~2 µs per short query once its words are cached, ~20 µs when none are (`scripts/bench/clip-tokenizer.ts`).
 * BPE is quadratic in the length of one space-free word (16,000 letters: ~20 ms), so callers bound the text
 * (the embed server accepts 500 characters); `tokenize` stops reading words once it has enough tokens.
 */

/** `bpe_simple_vocab_16e6.txt.gz` shipped with the product (models/clip-tokenizer/README.md). */
export const DEFAULT_BPE_PATH = resolve(import.meta.dirname, "../../models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz");

export const START_OF_TEXT_ID = 49406;
export const END_OF_TEXT_ID = 49407;
/** Sequence length every CLIP text encoder was trained with. */
export const CLIP_CONTEXT_LENGTH = 77;

/** Merges OpenAI reads from the gz file: lines 1 to 48,894 (49,152 − 256 − 2), after the version line. */
const OPENAI_MERGE_COUNT = 49152 - 256 - 2;
/** Pre-tokenised words remembered with their ids; the oldest go first past this many. */
const CACHE_LIMIT = 50_000;

/** OpenAI's pattern minus `<\|startoftext\|>|<\|endoftext\|>` (see above); `i` as in OpenAI, for `'ſ`. */
const PRE_TOKEN = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${PY_WHITESPACE}\\p{L}\\p{N}]+`, "giu");

/** A file to load the vocabulary from: HF `tokenizer.json` (model folders, Immich) or OpenAI's merges file. */
export type ClipTokenizerSource = { tokenizerJson: string } | { bpeGz: string };

/** Token ids for a batch, row-major `[n, contextLength]`, zero-padded; the mask is 1 on real tokens. */
export interface ClipTokenBatch {
  ids: Int32Array;
  attentionMask: Int32Array;
  shape: [number, number];
}

export interface ClipTokenizer {
  /** Vocabulary size (49,408 for CLIP). */
  readonly vocabSize: number;
  /** Ids with start and end tokens, neither truncated nor padded. */
  encode(text: string): number[];
  /** Model input: each text truncated (last id stays the end token) and zero-padded to `contextLength`. */
  tokenize(texts: readonly string[], contextLength?: number): ClipTokenBatch;
}

/**
 * int64 copy of ids or a mask, for text encoders whose `input_ids` are int64 (HF exports).
 * @example new Tensor("int64", toBigInt64(batch.ids), batch.shape)
 */
export function toBigInt64(values: Int32Array): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i] ?? 0);
  return out;
}

/** GPT-2's reversible byte → character map: printable bytes keep their character, the rest move to U+0100+. */
function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + shifted++);
  return table;
}

interface Vocabulary {
  encoder: Map<string, number>;
  /** Merge rank by `"left right"`. */
  ranks: Map<string, number>;
}

/** OpenAI's construction: 256 byte characters, the same with `</w>`, one token per merge, then the two specials. */
function vocabularyFromBpe(text: string): Vocabulary {
  const merges = text
    .split("\n")
    .slice(1, OPENAI_MERGE_COUNT + 1)
    .map((line) => line.split(/\s+/));
  if (merges.length !== OPENAI_MERGE_COUNT || merges.some((m) => m.length !== 2)) {
    throw new Error(`CLIP BPE file: expected ${OPENAI_MERGE_COUNT} "left right" merge lines after the header`);
  }
  // Python's dict order: bytes that kept their own character first, then the shifted ones (U+0100+).
  const table = bytesToUnicode();
  const bytes = [...table.filter((c) => c.charCodeAt(0) < 256), ...table.filter((c) => c.charCodeAt(0) >= 256)];
  const tokens = [...bytes, ...bytes.map((c) => `${c}</w>`), ...merges.map((m) => m.join("")), "<|startoftext|>", "<|endoftext|>"];
  return {
    encoder: new Map(tokens.map((token, id) => [token, id])),
    ranks: new Map(merges.map((m, rank) => [m.join(" "), rank])),
  };
}

const TokenizerJson = v.object({
  model: v.object({
    type: v.literal("BPE"),
    end_of_word_suffix: v.literal("</w>"),
    vocab: v.record(v.string(), v.pipe(v.number(), v.integer(), v.minValue(0))),
    merges: v.array(v.union([v.pipe(v.string(), v.regex(/^\S+ \S+$/)), v.tuple([v.string(), v.string()])])),
  }),
});

/** HF `tokenizer.json`: merges as `"a b"` strings (older files) or `["a", "b"]` pairs (newer). */
function vocabularyFromTokenizerJson(text: string, file: string): Vocabulary {
  const parsed = v.safeParse(TokenizerJson, JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`${file}: not a CLIP BPE tokenizer.json (${v.summarize(parsed.issues).replaceAll("\n", "; ")})`);
  }
  const { vocab, merges } = parsed.output.model;
  return {
    encoder: new Map(Object.entries(vocab)),
    ranks: new Map(merges.map((m, rank) => [typeof m === "string" ? m : m.join(" "), rank])),
  };
}

/** Everything `encode` can look up must exist, so a bad vocabulary fails at load, not on some query. */
function checkVocabulary({ encoder, ranks }: Vocabulary, file: string): void {
  const missing = (token: string) => !encoder.has(token);
  if (encoder.get("<|startoftext|>") !== START_OF_TEXT_ID || encoder.get("<|endoftext|>") !== END_OF_TEXT_ID) {
    throw new Error(`${file}: <|startoftext|> and <|endoftext|> must be ids ${START_OF_TEXT_ID} and ${END_OF_TEXT_ID}`);
  }
  const byteToken = bytesToUnicode().find((c) => missing(c) || missing(`${c}</w>`));
  if (byteToken !== undefined) throw new Error(`${file}: vocabulary lacks the byte token ${JSON.stringify(byteToken)}`);
  for (const pair of ranks.keys()) {
    if (missing(pair.replace(" ", ""))) throw new Error(`${file}: merge "${pair}" has no vocabulary entry`);
  }
}

class BpeClipTokenizer implements ClipTokenizer {
  readonly vocabSize: number;
  private readonly encoder: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly byteChars = bytesToUnicode();
  private readonly utf8 = new TextEncoder();
  private readonly cache = new Map<string, readonly number[]>();

  constructor({ encoder, ranks }: Vocabulary) {
    this.encoder = encoder;
    this.ranks = ranks;
    this.vocabSize = encoder.size;
  }

  encode(text: string): number[] {
    return [START_OF_TEXT_ID, ...this.encodeText(text, Number.POSITIVE_INFINITY), END_OF_TEXT_ID];
  }

  tokenize(texts: readonly string[], contextLength = CLIP_CONTEXT_LENGTH): ClipTokenBatch {
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new RangeError(`contextLength must be an integer of at least 2, got ${contextLength}`);
    }
    const ids = new Int32Array(texts.length * contextLength);
    const attentionMask = new Int32Array(texts.length * contextLength);
    texts.forEach((text, row) => {
      const content = this.encodeText(text, contextLength - 2).slice(0, contextLength - 2);
      const start = row * contextLength;
      ids[start] = START_OF_TEXT_ID;
      ids.set(content, start + 1);
      ids[start + content.length + 1] = END_OF_TEXT_ID;
      attentionMask.fill(1, start, start + content.length + 2);
    });
    return { ids, attentionMask, shape: [texts.length, contextLength] };
  }

  /** Text ids without specials; stops once `enough` ids are out, since later words cannot change earlier ones. */
  private encodeText(text: string, enough: number): number[] {
    const ids: number[] = [];
    for (const [word] of cleanClipText(text).matchAll(PRE_TOKEN)) {
      ids.push(...this.wordIds(word));
      if (ids.length >= enough) break;
    }
    return ids;
  }

  private wordIds(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const symbols = Array.from(this.utf8.encode(word), (b) => this.byteChars[b] ?? "");
    symbols.push(`${symbols.pop() ?? ""}</w>`);
    const ids = this.merge(symbols).map((symbol) => {
      const id = this.encoder.get(symbol);
      if (id === undefined) throw new Error(`CLIP vocabulary has no token ${JSON.stringify(symbol)}`);
      return id;
    });
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value ?? "");
    this.cache.set(word, ids);
    return ids;
  }

  /** Repeatedly joins the lowest-ranked adjacent pair, every occurrence left to right (OpenAI's `bpe`). */
  private merge(initial: string[]): string[] {
    let symbols = initial;
    while (symbols.length > 1) {
      let best = Number.POSITIVE_INFINITY;
      let left = "";
      let right = "";
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < best) [best, left, right] = [rank, symbols[i] ?? "", symbols[i + 1] ?? ""];
      }
      if (best === Number.POSITIVE_INFINITY) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else {
          merged.push(symbols[i] ?? "");
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}

/**
 * Loads the CLIP tokenizer from either file format; both give the same ids. The text clean-up is always
 * OpenAI's (ftfy, HTML unescape, whitespace, lower case), whatever normalizer a tokenizer.json declares.
 * @example
 * const tokenizer = await loadClipTokenizer({ bpeGz: DEFAULT_BPE_PATH });
 * tokenizer.encode("a photo of a cat"); // [49406, 320, 1125, 539, 320, 2368, 49407]
 */
export async function loadClipTokenizer(source: ClipTokenizerSource): Promise<ClipTokenizer> {
  const [file, vocabulary] =
    "tokenizerJson" in source
      ? [source.tokenizerJson, vocabularyFromTokenizerJson(await readFile(source.tokenizerJson, "utf8"), source.tokenizerJson)]
      : [source.bpeGz, vocabularyFromBpe(gunzipSync(await readFile(source.bpeGz)).toString("utf8"))];
  checkVocabulary(vocabulary, file);
  return new BpeClipTokenizer(vocabulary);
}
