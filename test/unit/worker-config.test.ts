import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { NEAR_DUPLICATE_MAX_DISTANCE, NSFW_THRESHOLD } from "../../common/images";
import { MAX_EMBEDDING_DIMENSIONS } from "../../db/embedding-models";
import { clipModelDirOf, readWorkerConfig } from "../../gpu-worker/config";
import { CLIP_MODELS, selectClipFiles } from "../../gpu-worker/ml/clip-models";
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

describe("GPU worker configuration", () => {
  it("names every missing variable", () => {
    const error = (() => {
      try {
        readWorkerConfig({});
      } catch (e) {
        return (e as Error).message;
      }
    })();
    for (const name of ["DATABASE_URL", "CF_ACCOUNT_ID", "JOBS_QUEUE_ID", "QUEUES_API_TOKEN", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]) {
      expect(error).toContain(`${name} is not set`);
    }
  });

  it("parses and defaults", () => {
    const config = readWorkerConfig({ ...base, HEARTBEAT_INTERVAL_MS: "1000" });
    expect(config.HEARTBEAT_INTERVAL_MS).toBe(1000);
    expect(config.WORKER_ID).toMatch(/-\d+$/);
    // Unset: the job policies' own backoff (common/jobs.ts); the rules' defaults from common/images.ts.
    expect(config.RETRY_BASE_SECONDS).toBeUndefined();
    expect(readWorkerConfig({ ...base, RETRY_BASE_SECONDS: "0" }).RETRY_BASE_SECONDS).toBe(0);
    expect(config.NSFW_THRESHOLD).toBe(NSFW_THRESHOLD);
    expect(config.PHASH_MAX_DISTANCE).toBe(NEAR_DUPLICATE_MAX_DISTANCE);
    expect(config.s3Endpoint).toBe("https://acc.r2.cloudflarestorage.com");
    expect(config.QUEUES_API_URL).toBe("https://api.cloudflare.com/client/v4");
  });

  it("needs an R2 account or endpoint", () => {
    const { R2_ACCOUNT_ID: _, ...rest } = base;
    expect(() => readWorkerConfig(rest)).toThrow(/R2_ACCOUNT_ID is not set/);
    expect(readWorkerConfig({ ...rest, R2_S3_ENDPOINT: "http://127.0.0.1:8787/_local/s3/" }).s3Endpoint).toBe("http://127.0.0.1:8787/_local/s3");
  });

  it("refuses nonsense numbers", () => {
    expect(() => readWorkerConfig({ ...base, HEARTBEAT_INTERVAL_MS: "soon" })).toThrow(/HEARTBEAT_INTERVAL_MS/);
    expect(() => readWorkerConfig({ ...base, NSFW_THRESHOLD: "2" })).toThrow(/NSFW_THRESHOLD must be at most 1/);
    expect(() => readWorkerConfig({ ...base, WORKER_CONCURRENCY: "0" })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => readWorkerConfig({ ...base, RETRY_BASE_SECONDS: "-1" })).toThrow(/RETRY_BASE_SECONDS must be at least 0/);
  });

  it("reads the CLIP execution providers in order, and refuses unknown ones", () => {
    expect(readWorkerConfig(base).CLIP_EXECUTION_PROVIDERS).toEqual(["cuda", "cpu"]);
    expect(readWorkerConfig({ ...base, CLIP_EXECUTION_PROVIDERS: " CPU " }).CLIP_EXECUTION_PROVIDERS).toEqual(["cpu"]);
    expect(() => readWorkerConfig({ ...base, CLIP_EXECUTION_PROVIDERS: "tpu" })).toThrow(/CLIP_EXECUTION_PROVIDERS lists cuda and\/or cpu/);
    expect(readWorkerConfig(base).EMBED_PORT).toBe(8788);
    expect(readWorkerConfig(base).WORKER_SHARED_SECRET).toBe("");
  });
});

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

  it("takes every model of Immich's list, of any width, and refuses an unknown bare name, naming the known ones", () => {
    for (const name of [
      "RN50__openai",
      "ViT-L-14__openai",
      "XLM-Roberta-Large-Vit-B-16Plus",
      "ViT-B-16-SigLIP2__webli",
      "ViT-gopt-16-SigLIP2-384__webli",
      "XLM-Roberta-Large-Vit-B-32",
    ]) {
      expect(readWorkerConfig({ ...base, CLIP_MODEL: name }).CLIP_MODEL).toBe(name);
    }
    // Every listed width fits pgvector's HNSW index (db/embedding-models.ts).
    for (const model of Object.values(CLIP_MODELS)) expect(model.dimensions).toBeLessThanOrEqual(MAX_EMBEDDING_DIMENSIONS);
    expect(() => readWorkerConfig({ ...base, CLIP_MODEL: "ViT-Z-99__nowhere" })).toThrow(
      /CLIP_MODEL must be one of ViT-B-32__openai, .*ViT-gopt-16-SigLIP2-384__webli \(the CLIP models Immich publishes\) or an owner\/repo/,
    );
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
  it("Immich: the fp32 pair, configs, tokenizer.json and its config (the pad token); not fp16/, armnn, rknpu, vocab/merges", () => {
    const listed = [
      "README.md",
      "config.json",
      "visual/model.onnx",
      "visual/preprocess_cfg.json",
      "visual/fp16/model.onnx",
      "visual/model.armnn",
      "visual/rknpu/rk3588/model.rknn",
      "textual/model.onnx",
      "textual/tokenizer.json",
      "textual/tokenizer_config.json",
      "textual/vocab.json",
      "textual/merges.txt",
    ];
    expect(selectClipFiles(listed.map(file)).map((f) => f.path)).toEqual([
      "config.json",
      "visual/model.onnx",
      "visual/preprocess_cfg.json",
      "textual/model.onnx",
      "textual/tokenizer.json",
      "textual/tokenizer_config.json",
    ]);
  });

  it("Hugging Face: the onnx/ pair and configs, not the quantised or fp16 variants; a repo with neither layout is unusable", () => {
    const listed = [
      "config.json",
      "preprocessor_config.json",
      "tokenizer.json",
      "onnx/vision_model.onnx",
      "onnx/vision_model_quantized.onnx",
      "onnx/text_model.onnx",
      "onnx/text_model_fp16.onnx",
    ];
    expect(selectClipFiles(listed.map(file)).map((f) => f.path)).toEqual([
      "config.json",
      "onnx/vision_model.onnx",
      "onnx/text_model.onnx",
      "preprocessor_config.json",
      "tokenizer.json",
    ]);
    expect(() => selectClipFiles(["model.safetensors", "config.json"].map(file))).toThrow(/no CLIP ONNX export/);
    expect(() => selectClipFiles(["config.json", "visual/model.onnx"].map(file))).toThrow(/lacks visual\/preprocess_cfg.json, textual\/model.onnx/);
  });
});
