import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { clipModelDirOf, readWorkerConfig } from "../../gpu-worker/config";
import { selectClipFiles } from "../../gpu-worker/ml/clip-models";
import { readMigrateConfig } from "../../migrate/config";

const base = {
  DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db",
  CF_ACCOUNT_ID: "acc",
  JOBS_QUEUE_ID: "q",
  QUEUES_API_TOKEN: "t",
  R2_ACCOUNT_ID: "acc",
  R2_ACCESS_KEY_ID: "k",
  R2_SECRET_ACCESS_KEY: "s",
};
const root = resolve(import.meta.dirname, "../..");

describe("CLIP_MODEL and where its folder goes", () => {
  it("defaults to Immich's ViT-B-32__openai from huggingface.co, in .data/models/clip/<name>", () => {
    const config = readWorkerConfig(base);
    expect(config.CLIP_MODEL).toBe("ViT-B-32__openai");
    expect(config.HF_ENDPOINT).toBe("https://huggingface.co");
    expect(config.HF_HUB_OFFLINE).toBe(false);
    expect(config.CLIP_MODEL_REVISION).toBe("main");
    expect(clipModelDirOf(config)).toBe(join(root, ".data/models/clip/ViT-B-32__openai"));
  });

  it("the folder follows the name (an owner/repo keeps its repo name); CLIP_MODEL_DIR overrides it", () => {
    expect(clipModelDirOf(readWorkerConfig({ ...base, CLIP_MODEL: "ViT-B-16__laion400m_e32" }))).toBe(join(root, ".data/models/clip/ViT-B-16__laion400m_e32"));
    expect(clipModelDirOf(readWorkerConfig({ ...base, CLIP_MODEL: "Xenova/clip-vit-base-patch32" }))).toBe(join(root, ".data/models/clip/clip-vit-base-patch32"));
    expect(clipModelDirOf(readWorkerConfig({ ...base, CLIP_MODEL_DIR: "/srv/models/clip" }))).toBe("/srv/models/clip");
    expect(readWorkerConfig({ ...base, HF_HUB_OFFLINE: "1" }).HF_HUB_OFFLINE).toBe(true);
  });

  it("refuses Immich models that do not fit (other widths or tokenizers), naming the ones that do", () => {
    for (const name of ["RN50__openai", "ViT-L-14__openai", "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k", "nllb-clip-base-siglip__v1"]) {
      expect(() => readWorkerConfig({ ...base, CLIP_MODEL: name })).toThrow(/CLIP_MODEL must be one of ViT-B-32__openai, .*RN101__yfcc15m/);
    }
    expect(() => readWorkerConfig({ ...base, HF_ENDPOINT: "not a url" })).toThrow(/HF_ENDPOINT must be a URL/);
  });

  it("the batch migration reads the same fields", () => {
    const config = readMigrateConfig({ ...base, CLIP_MODEL: "ViT-B-32__laion2b-s34b-b79k", HF_ENDPOINT: "http://mirror.local" });
    expect(clipModelDirOf(config)).toBe(join(root, ".data/models/clip/ViT-B-32__laion2b-s34b-b79k"));
    expect(config.HF_ENDPOINT).toBe("http://mirror.local");
  });
});

describe("selectClipFiles: only what the loader reads", () => {
  const file = (path: string) => ({ path, size: 1 });
  it("Immich: the fp32 pair, configs and tokenizer.json; not fp16/, armnn, rknpu, vocab/merges", () => {
    const listed = ["README.md", "config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "visual/fp16/model.onnx", "visual/model.armnn", "visual/rknpu/rk3588/model.rknn", "textual/model.onnx", "textual/tokenizer.json", "textual/vocab.json", "textual/merges.txt"];
    expect(selectClipFiles(listed.map(file)).map((f) => f.path)).toEqual(["config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx", "textual/tokenizer.json"]);
  });

  it("Hugging Face: the onnx/ pair and configs, not the quantised or fp16 variants; a repo with neither layout is unusable", () => {
    const listed = ["config.json", "preprocessor_config.json", "tokenizer.json", "onnx/vision_model.onnx", "onnx/vision_model_quantized.onnx", "onnx/text_model.onnx", "onnx/text_model_fp16.onnx"];
    expect(selectClipFiles(listed.map(file)).map((f) => f.path)).toEqual(["config.json", "onnx/vision_model.onnx", "onnx/text_model.onnx", "preprocessor_config.json", "tokenizer.json"]);
    expect(() => selectClipFiles(["model.safetensors", "config.json"].map(file))).toThrow(/no CLIP ONNX export/);
    expect(() => selectClipFiles(["config.json", "visual/model.onnx"].map(file))).toThrow(/lacks visual\/preprocess_cfg.json, textual\/model.onnx/);
  });
});
