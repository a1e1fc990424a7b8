import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import * as v from "valibot";
import { cleanText } from "./clip-text-clean";
import type { ClipTokenBatch, ClipTokenizer } from "./clip-tokenizer";

/**
 * Every other text tower's tokenizer, read from the model folder's `tokenizer.json` by Hugging Face's
 * tokenizers.js (`@huggingface/tokenizers`, the JavaScript port of the Rust `tokenizers` crate that
 * transformers.js uses): SentencePiece Unigram (XLM-RoBERTa, SigLIP), SentencePiece BPE (Gemma, SigLIP 2),
 * WordPiece (LaBSE) and the rest of what the Hub publishes. CLIP's own BPE stays in `clip-tokenizer.ts`,
 * which `isClipBpe` picks out.
 *
 * Immich's rule for these towers (`immich_ml/models/clip/textual.py`), which the exports were made for:
 * the text cleaned as CLIP cleans it but not lower-cased (lower-cased without ASCII punctuation where the
 * model config's `text_cfg.tokenizer_kwargs.clean` is `canonicalize`, as SigLIP's is), encoded with the
 * tokenizer's own special tokens, truncated to the context length keeping them (the `tokenizers` crate's
 * truncation: text tokens are dropped, the specials stay), and padded with the pad token that
 * `tokenizer_config.json` names (XLM-RoBERTa's is id 1, not 0: open_clip's XLM-RoBERTa tower reads
 * padding from the ids, so the pad id matters).
 *
 * Special tokens typed into a query (`<s>`, `</s>`, `<pad>`) are removed before encoding: the Unigram
 * vocabulary holds them as pieces, so they would otherwise come out as control ids and end a query early.
 *
 * Checked against SentencePiece itself in `test/worker/hub-tokenizer.test.ts` (fixture and how it is made:
 * `scripts/models/make-test-tokenizer.ts`).
 */

const TokenizerConfig = v.object({
  pad_token: v.optional(v.union([v.string(), v.object({ content: v.string() }), v.null()])),
});

const TokenizerFile = v.object({
  model: v.object({ type: v.string(), end_of_word_suffix: v.optional(v.nullable(v.string())) }),
  added_tokens: v.optional(v.array(v.object({ id: v.number(), content: v.string(), special: v.optional(v.boolean()) })), []),
  padding: v.optional(v.nullable(v.object({ pad_id: v.optional(v.number()) }))),
});

/** Whether a parsed `tokenizer.json` is OpenAI CLIP's BPE (words closed by `</w>`), which `clip-tokenizer.ts` reads. */
export function isClipBpe(json: unknown): boolean {
  const parsed = v.safeParse(TokenizerFile, json);
  return parsed.success && parsed.output.model.type === "BPE" && parsed.output.model.end_of_word_suffix === "</w>";
}

export interface HubTokenizerOptions {
  /** Immich's `canonicalize` clean-up (model config `text_cfg.tokenizer_kwargs.clean`): lower case, no ASCII punctuation. */
  canonicalize?: boolean;
}

class HubTokenizer implements ClipTokenizer {
  readonly vocabSize: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    vocabSize: number,
    private readonly padId: number,
    private readonly specials: readonly string[],
    private readonly canonicalize: boolean,
  ) {
    this.vocabSize = vocabSize;
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(this.clean(text)).ids;
  }

  tokenize(texts: readonly string[], contextLength = 77): ClipTokenBatch {
    if (!Number.isInteger(contextLength) || contextLength < 2) throw new RangeError(`contextLength must be an integer of at least 2, got ${contextLength}`);
    const ids = new Int32Array(texts.length * contextLength).fill(this.padId);
    const attentionMask = new Int32Array(texts.length * contextLength);
    texts.forEach((text, row) => {
      const cleaned = this.clean(text);
      let out = this.tokenizer.encode(cleaned).ids;
      if (out.length > contextLength) {
        // The specials the post-processor adds sit around the text's own ids; keep them, drop text from the end.
        const bare = this.tokenizer.encode(cleaned, { add_special_tokens: false }).ids;
        const before = out.findIndex((_, i) => bare.every((id, j) => out[i + j] === id));
        const after = out.length - before - bare.length;
        out = [...out.slice(0, before), ...bare.slice(0, Math.max(0, contextLength - before - after)), ...out.slice(out.length - after)].slice(0, contextLength);
      }
      ids.set(out, row * contextLength);
      attentionMask.fill(1, row * contextLength, row * contextLength + out.length);
    });
    return { ids, attentionMask, shape: [texts.length, contextLength] };
  }

  private clean(text: string): string {
    let cleaned = text;
    for (const special of this.specials) cleaned = cleaned.replaceAll(special, " ");
    return cleanText(cleaned, { canonicalize: this.canonicalize });
  }
}

/**
 * Loads `tokenizer.json` with the `tokenizer_config.json` beside it (optional: it names the pad token).
 * @example
 * const tokenizer = await loadHubTokenizer(".data/models/clip/XLM-Roberta-Large-Vit-B-32/textual/tokenizer.json");
 * tokenizer.tokenize(["ein rotes Fahrrad"], 77);
 */
export async function loadHubTokenizer(path: string, options: HubTokenizerOptions = {}): Promise<ClipTokenizer> {
  const json: unknown = JSON.parse(await readFile(path, "utf8"));
  const parsed = v.safeParse(TokenizerFile, json);
  if (!parsed.success) throw new Error(`${path}: not a tokenizer.json (${v.summarize(parsed.issues).replaceAll("\n", "; ")})`);
  const configPath = join(dirname(path), "tokenizer_config.json");
  const configText = await readFile(configPath, "utf8").catch(() => "{}");
  const config = v.safeParse(TokenizerConfig, JSON.parse(configText));
  if (!config.success) throw new Error(`${configPath}: ${v.summarize(config.issues).replaceAll("\n", "; ")}`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, JSON.parse(configText) as object);
  } catch (cause) {
    throw new Error(`${path}: tokenizers.js cannot load it (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
  const padToken = config.output.pad_token;
  const padName = typeof padToken === "string" ? padToken : padToken?.content;
  // Immich's rule (the config's pad_token), else the file's own padding, else a `<pad>` token, else 0.
  const padId = padName !== undefined ? tokenizer.token_to_id(padName) : (parsed.output.padding?.pad_id ?? tokenizer.token_to_id("<pad>") ?? 0);
  if (padId === undefined) throw new Error(`${configPath}: pad_token ${JSON.stringify(padName)} is not in ${path}`);
  const specials = parsed.output.added_tokens.filter((t) => t.special !== false).map((t) => t.content);
  const vocabSize = Math.max(0, ...tokenizer.get_vocab(true).values()) + 1;
  return new HubTokenizer(tokenizer, vocabSize, padId, specials, options.canonicalize ?? false);
}
