/**
 * Writes a small, seeded, CLIP-shaped model folder in one of the two layouts people publish, so the CLIP
 * loader can be tested without downloading weights. The ONNX graphs are not CLIP: they are a few ops each,
 * but they have the published input/output names, dtypes and shapes (scripts/models/README.md lists them
 * with sources), and their embeddings depend on the input and on the seed only.
 *
 * - image tower: AveragePool in 32×32 patches → Flatten → MatMul → Add (plus, in the HF layout, a
 *   `last_hidden_state` of one token per patch after a zero class token, as ViT-B/32 has).
 * - text tower: Gather from a [49408, 16] token table → mean over the tokens up to and including the first
 *   `<|endoftext|>` (49407) → MatMul → Add. Real CLIP also reads the text at the first end token, so padding
 *   (with 0 or with 49407) and the batch a text is in do not change its embedding, here as there.
 * Neither tower normalises its output.
 *
 * `--text-tower` picks the text tower's contract (Immich layout only): `clip` as above; `xlm-roberta`, open_clip's
 * XLM-RoBERTa tower as Immich exports it (`text` int32, the mask read from the ids as `ids != pad`, pad id 1,
 * mean-pooled); `mclip`, Immich's M-CLIP export (`input_ids` and `attention_mask` int32, mean over the mask).
 * Both multilingual towers use the SentencePiece fixture `test/fixtures/unigram/` as their tokenizer.
 *
 * Usage: `bun scripts/models/make-test-clip.ts <dir> [--layout immich|hf] [--embed-dim 32] [--image-size 224]
 * [--context-length 77] [--seed 1] [--fixed-batch] [--attention-mask] [--text-tower clip|xlm-roberta|mclip]`
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { seededRandom } from "../../common/random";

/** The CLIP BPE vocabulary size (openai/clip-vit-base-patch32 `tokenizer.json`). */
export const CLIP_VOCAB_SIZE = 49408;
/** `<|startoftext|>` and `<|endoftext|>` in the CLIP vocabulary; the latter is also the pad token. */
export const CLIP_BOS_ID = 49406;
export const CLIP_EOS_ID = 49407;
/** Width of the test text tower's token table and of the HF text `last_hidden_state`. */
export const TEST_TOKEN_WIDTH = 16;
/** Width of the HF vision `last_hidden_state` in the test model (ViT-B/32 has 768). */
export const TEST_VISION_WIDTH = 24;
/** Side of the square patch the test image tower averages over, as ViT-B/32's patch size. */
export const TEST_PATCH_SIZE = 32;

/** OpenAI CLIP's normalisation, shared by every ViT-B/32 export (open_clip `constants.py`). */
export const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** The tokenizer every OpenAI-vocabulary CLIP export ships (copied, not generated): models/clip-tokenizer/tokenizer.json. */
const TOKENIZER_JSON = resolve(import.meta.dirname, "../../models/clip-tokenizer/tokenizer.json");
/** The SentencePiece fixture the multilingual towers use (scripts/models/make-test-tokenizer.ts). */
export const UNIGRAM_DIR = resolve(import.meta.dirname, "../../test/fixtures/unigram");
/** XLM-RoBERTa's pad id (`<pad>`), which open_clip's tower masks on. */
export const XLMR_PAD_ID = 1;

export type TextTower = "clip" | "xlm-roberta" | "mclip";

export type ClipLayout = "immich" | "hf";

const OptionsSchema = v.object({
  layout: v.picklist(["immich", "hf"]),
  embedDim: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 32),
  imageSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(TEST_PATCH_SIZE)), 224),
  contextLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(2)), 77),
  seed: v.optional(v.pipe(v.number(), v.integer()), 1),
  fixedBatch: v.optional(v.boolean(), false),
  attentionMask: v.optional(v.boolean(), false),
  tokenizerPath: v.optional(v.string(), TOKENIZER_JSON),
  textTower: v.optional(v.picklist(["clip", "xlm-roberta", "mclip"]), "clip"),
});

export interface TestClipOptions {
  layout: ClipLayout;
  /** Embedding width (`embed_dim` / `projection_dim`); default 32. */
  embedDim?: number;
  /** Square input side; default 224. At least 32. */
  imageSize?: number;
  /** Text context length (`context_length` / `max_position_embeddings`); default 77. */
  contextLength?: number;
  /** Seed of every weight; same seed, same files. Default 1. */
  seed?: number;
  /**
   * Pin the batch dimension to 1, as Immich's current exporter does (dynamic_axes commented out); ORT then
   * rejects any other batch. Default false: a dynamic `batch_size`, as Immich's 2023–24 exports and all
   * optimum / transformers.js exports have.
   */
  fixedBatch?: boolean;
  /** HF layout only: give the text model an `attention_mask` input (int64, like `input_ids`). Default false. */
  attentionMask?: boolean;
  /** tokenizer.json to copy; default the shared CLIP tokenizer (the SentencePiece fixture for the multilingual towers). */
  tokenizerPath?: string;
  /** The text tower's contract (see the file's header); default `clip`. Others: Immich layout only. */
  textTower?: TextTower;
}

/** Paths of the two graphs inside a folder written in `layout`. */
export function testClipModelPaths(dir: string, layout: ClipLayout): { visual: string; textual: string } {
  return layout === "immich"
    ? { visual: join(dir, "visual", "model.onnx"), textual: join(dir, "textual", "model.onnx") }
    : { visual: join(dir, "onnx", "vision_model.onnx"), textual: join(dir, "onnx", "text_model.onnx") };
}

/**
 * Writes a complete model folder in the chosen layout: configs with the published field names, the CLIP
 * tokenizer, and two small ONNX graphs with the published input/output contract.
 * @example await writeTestClipModel(".tmp/clip-immich", { layout: "immich", seed: 7 });
 */
export async function writeTestClipModel(dir: string, options: TestClipOptions): Promise<void> {
  const opts = v.parse(OptionsSchema, options);
  if (opts.attentionMask && opts.layout !== "hf") throw new Error("attentionMask applies to the hf layout only");
  if (opts.textTower !== "clip" && opts.layout !== "immich") throw new Error(`the ${opts.textTower} text tower applies to the immich layout only`);
  // One stream per tower, and layout-only weights drawn last: the same seed gives the same embeddings in
  // both layouts, so a loader can be checked to read the two the same way.
  const visual = buildVisualGraph(opts, seededRandom(opts.seed));
  const multilingual = opts.textTower !== "clip";
  const tokenizerPath = multilingual ? (options.tokenizerPath ?? join(UNIGRAM_DIR, "tokenizer.json")) : opts.tokenizerPath;
  const tokenizerBytes = await readFile(tokenizerPath);
  const textual = multilingual
    ? buildMultilingualTextGraph(opts, JSON.parse(tokenizerBytes.toString("utf8")).model.vocab.length, seededRandom(opts.seed ^ 0x5bd1e995))
    : buildTextGraph(opts, seededRandom(opts.seed ^ 0x5bd1e995));
  const paths = testClipModelPaths(dir, opts.layout);
  const textDir = opts.layout === "immich" ? join(dir, "textual") : dir;

  await mkdir(join(paths.visual, ".."), { recursive: true });
  await mkdir(join(paths.textual, ".."), { recursive: true });
  await writeFile(paths.visual, encodeModel(visual));
  await writeFile(paths.textual, encodeModel(textual));
  // Read and write rather than copy, so the file gets ordinary permissions, not the source's read-only ones.
  await writeFile(join(textDir, "tokenizer.json"), tokenizerBytes);
  if (multilingual) {
    await writeFile(join(textDir, "tokenizer_config.json"), await readFile(join(UNIGRAM_DIR, "tokenizer_config.json")));
  } else {
    await writeJson(join(textDir, "tokenizer_config.json"), tokenizerConfig(opts.contextLength));
    await writeJson(join(textDir, "special_tokens_map.json"), SPECIAL_TOKENS_MAP);
  }
  if (opts.layout === "immich") {
    await writeJson(join(dir, "config.json"), openClipModelConfig(opts));
    await writeJson(join(dir, "visual", "preprocess_cfg.json"), openClipPreprocessConfig(opts.imageSize));
  } else {
    await writeJson(join(dir, "config.json"), hfClipConfig(opts));
    await writeJson(join(dir, "preprocessor_config.json"), hfPreprocessorConfig(opts.imageSize));
  }
}

type ResolvedOptions = v.InferOutput<typeof OptionsSchema>;

// ---------------------------------------------------------------------------------------------------------
// Config files

/** open_clip's model config (`open_clip.get_model_config`), as Immich's exporter saves it in config.json. */
function openClipModelConfig(o: ResolvedOptions): object {
  return {
    embed_dim: o.embedDim,
    vision_cfg: { image_size: o.imageSize, layers: 1, width: TEST_VISION_WIDTH, patch_size: TEST_PATCH_SIZE },
    text_cfg:
      o.textTower === "clip"
        ? { context_length: o.contextLength, vocab_size: CLIP_VOCAB_SIZE, width: TEST_TOKEN_WIDTH, heads: 1, layers: 1 }
        : { context_length: o.contextLength, hf_model_name: "xlm-roberta-base", hf_tokenizer_name: "xlm-roberta-base", hf_pooler_type: "mean_pooler" },
  };
}

/** open_clip's `PreprocessCfg` (`get_model_preprocess_cfg`), as Immich saves it in visual/preprocess_cfg.json. */
function openClipPreprocessConfig(imageSize: number): object {
  return {
    size: [imageSize, imageSize],
    mode: "RGB",
    mean: OPENAI_CLIP_MEAN,
    std: OPENAI_CLIP_STD,
    interpolation: "bicubic",
    resize_mode: "shortest",
    fill_color: 0,
  };
}

/**
 * transformers' CLIPConfig with the sub-configs written out. The token ids are the values
 * openai/clip-vit-base-patch32 itself ships (0/2/1, legacy and not the tokenizer's): a loader must take
 * pad/end tokens from the tokenizer files, not from here.
 */
function hfClipConfig(o: ResolvedOptions): object {
  return {
    _name_or_path: "edgestock/test-clip",
    architectures: ["CLIPModel"],
    initializer_factor: 1.0,
    logit_scale_init_value: 2.6592,
    model_type: "clip",
    projection_dim: o.embedDim,
    text_config: {
      bos_token_id: 0,
      eos_token_id: 2,
      pad_token_id: 1,
      hidden_size: TEST_TOKEN_WIDTH,
      max_position_embeddings: o.contextLength,
      model_type: "clip_text_model",
      num_hidden_layers: 1,
      projection_dim: o.embedDim,
      vocab_size: CLIP_VOCAB_SIZE,
    },
    vision_config: {
      hidden_size: TEST_VISION_WIDTH,
      image_size: o.imageSize,
      model_type: "clip_vision_model",
      num_channels: 3,
      num_hidden_layers: 1,
      patch_size: TEST_PATCH_SIZE,
      projection_dim: o.embedDim,
    },
  };
}

/** CLIPImageProcessor config as Xenova/clip-vit-base-patch32 ships it (dict sizes, resample 3 = bicubic). */
function hfPreprocessorConfig(imageSize: number): object {
  return {
    crop_size: { height: imageSize, width: imageSize },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    feature_extractor_type: "CLIPFeatureExtractor",
    image_mean: OPENAI_CLIP_MEAN,
    image_processor_type: "CLIPFeatureExtractor",
    image_std: OPENAI_CLIP_STD,
    resample: 3,
    rescale_factor: 1 / 255,
    size: { shortest_edge: imageSize },
  };
}

/** What `CLIPTokenizer.save_pretrained` writes for openai/clip-vit-base-patch32 (Immich reads `pad_token`). */
function tokenizerConfig(contextLength: number): object {
  return {
    add_prefix_space: false,
    bos_token: "<|startoftext|>",
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: "<|endoftext|>",
    errors: "replace",
    model_max_length: contextLength,
    pad_token: "<|endoftext|>",
    tokenizer_class: "CLIPTokenizer",
    unk_token: "<|endoftext|>",
  };
}

const SPECIAL_TOKENS_MAP = {
  bos_token: "<|startoftext|>",
  eos_token: "<|endoftext|>",
  pad_token: "<|endoftext|>",
  unk_token: "<|endoftext|>",
};

async function writeJson(path: string, value: object): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------------------
// Graphs

function gridSide(imageSize: number): number {
  return Math.floor(imageSize / TEST_PATCH_SIZE);
}

function buildVisualGraph(o: ResolvedOptions, rng: () => number): ModelSpec {
  const hf = o.layout === "hf";
  const grid = gridSide(o.imageSize);
  const features = 3 * grid * grid;
  const batch: Dim = o.fixedBatch ? 1 : "batch_size";
  const input = hf ? "pixel_values" : "image";
  const output = hf ? "image_embeds" : "embedding";
  // optimum's ViT config marks every pixel_values axis dynamic; Immich pins all but the batch.
  const inputShape: Dim[] = hf ? [batch, "num_channels", "height", "width"] : [batch, 3, o.imageSize, o.imageSize];

  const initializers: TensorSpec[] = [
    floatTensor("visual_projection", [features, o.embedDim], uniform(rng, features * o.embedDim, Math.sqrt(3 / features))),
    floatTensor("visual_bias", [o.embedDim], uniform(rng, o.embedDim, 0.1)),
  ];
  const nodes: NodeSpec[] = [
    node("AveragePool", [input], ["patches"], [intsAttr("kernel_shape", [TEST_PATCH_SIZE, TEST_PATCH_SIZE]), intsAttr("strides", [TEST_PATCH_SIZE, TEST_PATCH_SIZE])]),
    node("Flatten", ["patches"], ["patch_features"], [intAttr("axis", 1)]),
    node("MatMul", ["patch_features", "visual_projection"], ["projected"]),
    node("Add", ["projected", "visual_bias"], [output]),
  ];
  const outputs: ValueSpec[] = [{ name: output, elemType: DataType.FLOAT, shape: [batch, o.embedDim] }];

  if (hf) {
    // One token per patch (channels → width) after a zero class token: [N, grid² + 1, width], as ViT's.
    initializers.push(
      floatTensor("patch_embedding", [3, TEST_VISION_WIDTH], uniform(rng, 3 * TEST_VISION_WIDTH, 1)),
      int64Tensor("patch_grid_shape", [3], [0, 3, -1]),
      int64Tensor("class_token_pads", [6], [0, 1, 0, 0, 0, 0]),
    );
    nodes.push(
      node("Reshape", ["patches", "patch_grid_shape"], ["patch_channels"]),
      node("Transpose", ["patch_channels"], ["patch_tokens"], [intsAttr("perm", [0, 2, 1])]),
      node("MatMul", ["patch_tokens", "patch_embedding"], ["patch_states"]),
      node("Pad", ["patch_states", "class_token_pads"], ["last_hidden_state"]),
    );
    outputs.push({ name: "last_hidden_state", elemType: DataType.FLOAT, shape: [batch, grid * grid + 1, TEST_VISION_WIDTH] });
  }

  return {
    name: hf ? "clip_vision_model" : "open_clip_visual",
    nodes,
    initializers,
    inputs: [{ name: input, elemType: DataType.FLOAT, shape: inputShape }],
    outputs,
  };
}

function buildTextGraph(o: ResolvedOptions, rng: () => number): ModelSpec {
  const hf = o.layout === "hf";
  const batch: Dim = o.fixedBatch ? 1 : "batch_size";
  // Immich feeds int32 `text` of exactly context_length; optimum exports int64 `input_ids` of any length.
  const input = hf ? "input_ids" : "text";
  const idType = hf ? DataType.INT64 : DataType.INT32;
  const sequence: Dim = hf ? "sequence_length" : o.contextLength;
  const output = hf ? "text_embeds" : "embedding";
  const tokens = hf ? "last_hidden_state" : "token_states";

  const initializers: TensorSpec[] = [
    floatTensor("token_embedding", [CLIP_VOCAB_SIZE, TEST_TOKEN_WIDTH], uniform(rng, CLIP_VOCAB_SIZE * TEST_TOKEN_WIDTH, 1)),
    floatTensor("text_projection", [TEST_TOKEN_WIDTH, o.embedDim], uniform(rng, TEST_TOKEN_WIDTH * o.embedDim, Math.sqrt(3 / TEST_TOKEN_WIDTH))),
    floatTensor("text_bias", [o.embedDim], uniform(rng, o.embedDim, 0.1)),
    idType === DataType.INT64 ? int64Tensor("eos_id", [], [CLIP_EOS_ID]) : int32Tensor("eos_id", [], [CLIP_EOS_ID]),
    floatTensor("zero", [], [0]),
    floatTensor("one", [], [1]),
    int64Tensor("sequence_axis", [], [1]),
    int64Tensor("sequence_axes", [1], [1]),
    int64Tensor("feature_axes", [1], [2]),
  ];
  const nodes: NodeSpec[] = [
    node("Gather", ["token_embedding", input], [tokens], [intAttr("axis", 0)]),
    // Keep the tokens up to and including the first end token: those with no end token before them.
    node("Equal", [input, "eos_id"], ["is_eos"]),
    node("Cast", ["is_eos"], ["is_eos_f"], [intAttr("to", DataType.FLOAT)]),
    node("CumSum", ["is_eos_f", "sequence_axis"], ["eos_before"], [intAttr("exclusive", 1)]),
    node("Equal", ["eos_before", "zero"], ["keep"]),
    node("Cast", ["keep"], ["keep_f"], [intAttr("to", DataType.FLOAT)]),
  ];
  let weights = "keep_f";
  const inputs: ValueSpec[] = [{ name: input, elemType: idType, shape: [batch, sequence] }];
  if (o.attentionMask) {
    inputs.push({ name: "attention_mask", elemType: DataType.INT64, shape: [batch, sequence] });
    nodes.push(node("Cast", ["attention_mask"], ["attention_f"], [intAttr("to", DataType.FLOAT)]), node("Mul", ["keep_f", "attention_f"], ["masked_keep"]));
    weights = "masked_keep";
  }
  nodes.push(
    node("Unsqueeze", [weights, "feature_axes"], ["weights_3d"]),
    node("Mul", [tokens, "weights_3d"], ["weighted_tokens"]),
    node("ReduceSum", ["weighted_tokens", "sequence_axes"], ["token_sum"], [intAttr("keepdims", 0)]),
    node("ReduceSum", [weights, "sequence_axes"], ["token_count"], [intAttr("keepdims", 1)]),
    node("Max", ["token_count", "one"], ["token_count_safe"]),
    node("Div", ["token_sum", "token_count_safe"], ["pooled"]),
    node("MatMul", ["pooled", "text_projection"], ["projected"]),
    node("Add", ["projected", "text_bias"], [output]),
  );
  const outputs: ValueSpec[] = [{ name: output, elemType: DataType.FLOAT, shape: [batch, o.embedDim] }];
  if (hf) outputs.push({ name: tokens, elemType: DataType.FLOAT, shape: [batch, sequence, TEST_TOKEN_WIDTH] });

  return { name: hf ? "clip_text_model" : "open_clip_textual", nodes, initializers, inputs, outputs };
}

/**
 * The multilingual towers: a token table over the SentencePiece fixture's vocabulary, mean-pooled over the
 * real tokens as XLM-RoBERTa towers pool (M-CLIP: over `attention_mask`; open_clip: over `text != pad`),
 * then projected. Int32 ids of exactly context_length, as Immich feeds them.
 */
function buildMultilingualTextGraph(o: ResolvedOptions, vocabSize: number, rng: () => number): ModelSpec {
  const batch: Dim = o.fixedBatch ? 1 : "batch_size";
  const mclip = o.textTower === "mclip";
  const input = mclip ? "input_ids" : "text";
  const initializers: TensorSpec[] = [
    floatTensor("token_embedding", [vocabSize, TEST_TOKEN_WIDTH], uniform(rng, vocabSize * TEST_TOKEN_WIDTH, 1)),
    floatTensor("text_projection", [TEST_TOKEN_WIDTH, o.embedDim], uniform(rng, TEST_TOKEN_WIDTH * o.embedDim, Math.sqrt(3 / TEST_TOKEN_WIDTH))),
    floatTensor("text_bias", [o.embedDim], uniform(rng, o.embedDim, 0.1)),
    floatTensor("one", [], [1]),
    int64Tensor("sequence_axes", [1], [1]),
    int64Tensor("feature_axes", [1], [2]),
  ];
  const inputs: ValueSpec[] = [{ name: input, elemType: DataType.INT32, shape: [batch, o.contextLength] }];
  const nodes: NodeSpec[] = [node("Gather", ["token_embedding", input], ["token_states"], [intAttr("axis", 0)])];
  if (mclip) {
    inputs.push({ name: "attention_mask", elemType: DataType.INT32, shape: [batch, o.contextLength] });
    nodes.push(node("Cast", ["attention_mask"], ["weights"], [intAttr("to", DataType.FLOAT)]));
  } else {
    initializers.push(int32Tensor("pad_id", [], [XLMR_PAD_ID]));
    nodes.push(node("Equal", [input, "pad_id"], ["is_pad"]), node("Not", ["is_pad"], ["is_token"]), node("Cast", ["is_token"], ["weights"], [intAttr("to", DataType.FLOAT)]));
  }
  nodes.push(
    node("Unsqueeze", ["weights", "feature_axes"], ["weights_3d"]),
    node("Mul", ["token_states", "weights_3d"], ["weighted_tokens"]),
    node("ReduceSum", ["weighted_tokens", "sequence_axes"], ["token_sum"], [intAttr("keepdims", 0)]),
    node("ReduceSum", ["weights", "sequence_axes"], ["token_count"], [intAttr("keepdims", 1)]),
    node("Max", ["token_count", "one"], ["token_count_safe"]),
    node("Div", ["token_sum", "token_count_safe"], ["pooled"]),
    node("MatMul", ["pooled", "text_projection"], ["projected"]),
    node("Add", ["projected", "text_bias"], ["embedding"]),
  );
  const outputs: ValueSpec[] = [{ name: "embedding", elemType: DataType.FLOAT, shape: [batch, o.embedDim] }];
  return { name: mclip ? "mclip_textual" : "open_clip_xlmr_textual", nodes, initializers, inputs, outputs };
}

function uniform(rng: () => number, count: number, limit: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (rng() * 2 - 1) * limit;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// ONNX protobuf (onnx/onnx.proto3 field numbers), written by hand: the subset these graphs need.

/** TensorProto.DataType values. */
const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
type ElemType = (typeof DataType)[keyof typeof DataType];
/** AttributeProto.AttributeType values. */
const AttributeType = { INT: 2, INTS: 7 } as const;

/** ONNX IR version 8 (ONNX 1.10–1.12) with the default-domain opset 17. */
const IR_VERSION = 8;
const OPSET = 17;

type Dim = number | string;
interface ValueSpec {
  name: string;
  elemType: ElemType;
  shape: Dim[];
}
interface TensorSpec {
  name: string;
  dataType: ElemType;
  dims: number[];
  raw: Uint8Array;
}
type AttributeSpec = { name: string; type: typeof AttributeType.INT; i: number } | { name: string; type: typeof AttributeType.INTS; ints: number[] };
interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: AttributeSpec[];
}
interface ModelSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
}

function node(opType: string, inputs: string[], outputs: string[], attributes: AttributeSpec[] = []): NodeSpec {
  return { opType, inputs, outputs, attributes };
}
function intAttr(name: string, i: number): AttributeSpec {
  return { name, type: AttributeType.INT, i };
}
function intsAttr(name: string, ints: number[]): AttributeSpec {
  return { name, type: AttributeType.INTS, ints };
}

function floatTensor(name: string, dims: number[], values: Float32Array | number[]): TensorSpec {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return { name, dataType: DataType.FLOAT, dims, raw: new Uint8Array(view.buffer) };
}
function int32Tensor(name: string, dims: number[], values: number[]): TensorSpec {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((x, i) => view.setInt32(i * 4, x, true));
  return { name, dataType: DataType.INT32, dims, raw: new Uint8Array(view.buffer) };
}
function int64Tensor(name: string, dims: number[], values: number[]): TensorSpec {
  const view = new DataView(new ArrayBuffer(values.length * 8));
  values.forEach((x, i) => view.setBigInt64(i * 8, BigInt(x), true));
  return { name, dataType: DataType.INT64, dims, raw: new Uint8Array(view.buffer) };
}

/** Protobuf wire-format writer: varints, length-delimited fields and nested messages. */
class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varint(value: number | bigint): void {
    // Negative int64 values are sent as their 64-bit two's complement, ten bytes long.
    let n = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    while (n >= 0x80n) {
      bytes.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    bytes.push(Number(n));
    this.push(Uint8Array.from(bytes));
  }

  private tag(field: number, wireType: 0 | 2): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated varints (proto3's encoding for repeated scalars). */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const x of values) inner.varint(x);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

function writeValueInfo(w: ProtoWriter, value: ValueSpec): void {
  w.string(1, value.name); // ValueInfoProto.name
  w.message(2, (type) =>
    // TypeProto.tensor_type → Tensor { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 | dim_param = 2 } } }
    type.message(1, (tensor) => {
      tensor.int(1, value.elemType);
      tensor.message(2, (shape) => {
        for (const dim of value.shape) {
          shape.message(1, (d) => (typeof dim === "number" ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

function writeTensor(w: ProtoWriter, tensor: TensorSpec): void {
  if (tensor.dims.length > 0) w.packedInts(1, tensor.dims); // TensorProto.dims
  w.int(2, tensor.dataType); // data_type
  w.string(8, tensor.name); // name
  w.bytes(9, tensor.raw); // raw_data, little-endian
}

function writeNode(w: ProtoWriter, spec: NodeSpec, index: number): void {
  for (const input of spec.inputs) w.string(1, input);
  for (const output of spec.outputs) w.string(2, output);
  w.string(3, `${spec.opType.toLowerCase()}_${index}`);
  w.string(4, spec.opType);
  for (const attr of spec.attributes) {
    w.message(5, (a) => {
      a.string(1, attr.name);
      if (attr.type === AttributeType.INT) a.int(3, attr.i);
      else a.packedInts(8, attr.ints);
      a.int(20, attr.type);
    });
  }
}

/** Serialises a ModelProto: ir_version 8, opset 17, one graph. */
function encodeModel(spec: ModelSpec): Uint8Array {
  return new ProtoWriter()
    .int(1, IR_VERSION) // ModelProto.ir_version
    .string(2, "edgestock-make-test-clip") // producer_name
    .string(3, "1") // producer_version
    .message(7, (graph) => {
      spec.nodes.forEach((n, i) => graph.message(1, (w) => writeNode(w, n, i)));
      graph.string(2, spec.name);
      for (const t of spec.initializers) graph.message(5, (w) => writeTensor(w, t));
      for (const input of spec.inputs) graph.message(11, (w) => writeValueInfo(w, input));
      for (const output of spec.outputs) graph.message(12, (w) => writeValueInfo(w, output));
    })
    .message(8, (opset) => opset.string(1, "").int(2, OPSET)) // opset_import
    .finish();
}

// ---------------------------------------------------------------------------------------------------------
// CLI

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      layout: { type: "string", default: "immich" },
      "embed-dim": { type: "string" },
      "image-size": { type: "string" },
      "context-length": { type: "string" },
      seed: { type: "string" },
      "fixed-batch": { type: "boolean", default: false },
      "attention-mask": { type: "boolean", default: false },
      "text-tower": { type: "string", default: "clip" },
    },
  });
  const [dir] = positionals;
  if (dir === undefined || positionals.length !== 1) {
    console.error(
      "usage: bun scripts/models/make-test-clip.ts <dir> [--layout immich|hf] [--embed-dim N] [--image-size N] [--context-length N] [--seed N] [--fixed-batch] [--attention-mask] [--text-tower clip|xlm-roberta|mclip]",
    );
    process.exit(2);
  }
  const layout = v.parse(v.picklist(["immich", "hf"]), values.layout);
  const toInt = (flag: string | undefined) => (flag === undefined ? undefined : Number(flag));
  const out = resolve(dir);
  await writeTestClipModel(out, {
    layout,
    embedDim: toInt(values["embed-dim"]),
    imageSize: toInt(values["image-size"]),
    contextLength: toInt(values["context-length"]),
    seed: toInt(values.seed),
    fixedBatch: values["fixed-batch"],
    attentionMask: values["attention-mask"],
    textTower: v.parse(v.picklist(["clip", "xlm-roberta", "mclip"]), values["text-tower"]),
  });
  console.log(`wrote a ${layout} test CLIP model to ${out}`);
}

if (import.meta.main) {
  await main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
