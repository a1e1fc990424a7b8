/**
 * Writes the SentencePiece (Unigram) tokenizer fixture in `test/fixtures/unigram/`, the kind XLM-RoBERTa
 * and SigLIP text towers use, with reference tokenizations from SentencePiece itself, so the worker's
 * `tokenizer.json` loader is checked against the reference implementation rather than against itself.
 *
 *   1. `spm_train` (Google's SentencePiece, Debian's `sentencepiece` package) trains a small Unigram model
 *      on `corpus.txt` (stock-photo captions in 17 languages, written for this fixture) with SentencePiece's
 *      default NFKC normalisation: `sentencepiece.bpe.model`, the name XLM-RoBERTa's file has.
 *   2. The model is converted to `tokenizer.json` the way transformers' `XLMRobertaConverter` converts
 *      XLM-RoBERTa's (`convert_slow_tokenizer.py`): the model's precompiled character map as the
 *      normaliser, Metaspace pre-tokenising, a Unigram vocabulary in fairseq's order (`<s>` 0, `<pad>` 1,
 *      `</s>` 2, `<unk>` 3, then SentencePiece's pieces from its id 3 on, so a piece's id is its
 *      SentencePiece id + 1, then `<mask>`), and `<s> … </s>` around the text.
 *   3. `spm_encode --output_format=id` tokenises each reference text; `references.json` holds the text,
 *      SentencePiece's ids and the ids they make in fairseq's order (XLMRobertaTokenizer's own rule).
 *
 * Needs `spm_train` and `spm_encode` on the PATH (`apt-get install sentencepiece`). The outputs are
 * committed; the tests never run SentencePiece.
 *
 * Usage: `bun scripts/models/make-test-tokenizer.ts [dir]` (default test/fixtures/unigram)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const dir = resolve(process.argv[2] ?? join(import.meta.dirname, "../../test/fixtures/unigram"));
const VOCAB_SIZE = 1000;

/** Texts the references cover: seen and unseen words, scripts, NFKC folds (ligatures, full-width, compatibility forms), unknown characters. */
export const REFERENCE_TEXTS = [
  "a red bicycle against a brick wall",
  "ein rotes Fahrrad an einer Backsteinmauer",
  "vélo rouge devant un mur de briques",
  "bicicleta roja en el casco antiguo",
  "красный велосипед у кирпичной стены",
  "旧市街の赤い自転車",
  "红色自行车",
  "빨간 자전거",
  "دراجة حمراء",
  "लाल साइकिल",
  "κόκκινο ποδήλατο",
  "kırmızı bisiklet",
  "xe đạp màu đỏ",
  "Geschäftsleute im Büro",
  "ﬁsh and ﬂowers",
  "ＡＢＣ １２３ ｶﾀｶﾅ",
  "café au lait",
  "① ㌀ ™",
  "an emoji 🚲 and a Thai word จักรยาน",
  "UPPER CASE and MiXeD case",
  "12,500 images at 3:45 pm!",
  "supercalifragilisticexpialidocious",
  "x",
];

/** Reads a protobuf varint at `at`; returns it and the offset after it. */
function varint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
    shift += 7;
  }
}

/** The fields of one protobuf message as (field number, wire type, payload) in order. */
function fields(bytes: Uint8Array): { field: number; wire: number; value: number | Uint8Array }[] {
  const out: { field: number; wire: number; value: number | Uint8Array }[] = [];
  let at = 0;
  while (at < bytes.length) {
    const [key, next] = varint(bytes, at);
    at = next;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [value, after] = varint(bytes, at);
      out.push({ field, wire, value });
      at = after;
    } else if (wire === 2) {
      const [length, start] = varint(bytes, at);
      out.push({ field, wire, value: bytes.subarray(start, start + length) });
      at = start + length;
    } else if (wire === 5) {
      out.push({ field, wire, value: new DataView(bytes.buffer, bytes.byteOffset + at, 4).getFloat32(0, true) });
      at += 4;
    } else if (wire === 1) {
      at += 8;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
  return out;
}

interface SpModel {
  pieces: { piece: string; score: number; type: number }[];
  precompiledCharsmap: Uint8Array;
}

/** `sentencepiece_model.proto`: ModelProto.pieces = 1 (piece = 1, score = 2, type = 3), normalizer_spec = 3 (precompiled_charsmap = 2). */
function readSpModel(bytes: Uint8Array): SpModel {
  const text = new TextDecoder();
  const model: SpModel = { pieces: [], precompiledCharsmap: new Uint8Array() };
  for (const f of fields(bytes)) {
    if (f.field === 1 && f.value instanceof Uint8Array) {
      const piece = { piece: "", score: 0, type: 1 };
      for (const p of fields(f.value)) {
        if (p.field === 1 && p.value instanceof Uint8Array) piece.piece = text.decode(p.value);
        if (p.field === 2 && typeof p.value === "number") piece.score = p.value;
        if (p.field === 3 && typeof p.value === "number") piece.type = p.value;
      }
      model.pieces.push(piece);
    }
    if (f.field === 3 && f.value instanceof Uint8Array) {
      for (const n of fields(f.value)) if (n.field === 2 && n.value instanceof Uint8Array) model.precompiledCharsmap = n.value;
    }
  }
  return model;
}

/** XLMRobertaTokenizer's rule: SentencePiece's unknown (0) becomes `<unk>` (3), every other piece moves up one; `<s>` and `</s>` around. */
export const fairseqIds = (spmIds: readonly number[]) => [0, ...spmIds.map((id) => (id === 0 ? 3 : id + 1)), 2];

function tokenizerJson(model: SpModel) {
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const vocab: [string, number][] = [["<s>", 0], ["<pad>", 0], ["</s>", 0], ["<unk>", 0], ...model.pieces.slice(3).map((p): [string, number] => [p.piece, p.score]), ["<mask>", 0]];
  const maskId = vocab.length - 1;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<s>"), special(1, "<pad>"), special(2, "</s>"), special(3, "<unk>"), { ...special(maskId, "<mask>"), lstrip: true }],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Precompiled", precompiled_charsmap: Buffer.from(model.precompiledCharsmap).toString("base64") },
        { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
      ],
    },
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
        { Sequence: { id: "B", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [0], tokens: ["<s>"] }, "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] } },
    },
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    model: { type: "Unigram", unk_id: 3, vocab, byte_fallback: false },
  };
}

if (import.meta.main) {
  const work = mkdtempSync(join(tmpdir(), "spm-"));
  try {
    const modelPath = join(dir, "sentencepiece.bpe.model");
    // Relative paths: the model records them, so the same corpus makes the same bytes wherever it runs.
    writeFileSync(join(work, "corpus.txt"), readFileSync(join(dir, "corpus.txt")));
    execFileSync(
      "spm_train",
      [
        "--input=corpus.txt",
        "--model_prefix=m",
        "--model_type=unigram",
        `--vocab_size=${VOCAB_SIZE}`,
        "--hard_vocab_limit=false",
        "--character_coverage=1.0",
        "--num_threads=1",
        "--minloglevel=2",
      ],
      { cwd: work },
    );
    writeFileSync(modelPath, readFileSync(join(work, "m.model")));
    const model = readSpModel(readFileSync(modelPath));
    writeFileSync(join(dir, "tokenizer.json"), `${JSON.stringify(tokenizerJson(model))}\n`);
    writeFileSync(
      join(dir, "tokenizer_config.json"),
      `${JSON.stringify({ bos_token: "<s>", eos_token: "</s>", pad_token: "<pad>", unk_token: "<unk>", mask_token: "<mask>", model_max_length: 512, tokenizer_class: "XLMRobertaTokenizer" }, null, 2)}\n`,
    );
    const version = execFileSync("spm_encode", ["--version"]).toString().trim();
    const cases = REFERENCE_TEXTS.map((text) => {
      const spmIds = execFileSync("spm_encode", [`--model=${modelPath}`, "--output_format=id"], { input: `${text}\n` })
        .toString()
        .trim()
        .split(" ")
        .map(Number);
      return { text, spmIds, ids: fairseqIds(spmIds) };
    });
    const source = `${version} (spm_encode --output_format=id) over sentencepiece.bpe.model; ids = <s>, spmIds in fairseq order (0 → 3, n → n + 1), </s>`;
    const lines = cases.map((c) => `  {"text": ${JSON.stringify(c.text)}, "spmIds": [${c.spmIds.join(", ")}], "ids": [${c.ids.join(", ")}]}`);
    writeFileSync(join(dir, "references.json"), `{\n "source": ${JSON.stringify(source)},\n "pieces": ${model.pieces.length},\n "cases": [\n${lines.join(",\n")}\n ]\n}\n`);
    console.log(`${dir}: ${model.pieces.length} pieces, ${cases.length} reference texts (${version})`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
