import { describe, expect, it } from "vitest";
import { readWorkerConfig } from "../../gpu-worker/config";

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
    expect(config.MAX_ATTEMPTS).toBe(3);
    expect(config.NSFW_THRESHOLD).toBe(0.1);
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
  });

  it("reads the CLIP execution providers in order, and refuses unknown ones", () => {
    expect(readWorkerConfig(base).CLIP_EXECUTION_PROVIDERS).toEqual(["cuda", "cpu"]);
    expect(readWorkerConfig({ ...base, CLIP_EXECUTION_PROVIDERS: " CPU " }).CLIP_EXECUTION_PROVIDERS).toEqual(["cpu"]);
    expect(() => readWorkerConfig({ ...base, CLIP_EXECUTION_PROVIDERS: "tpu" })).toThrow(/CLIP_EXECUTION_PROVIDERS lists cuda and\/or cpu/);
    expect(readWorkerConfig(base).EMBED_PORT).toBe(8788);
    expect(readWorkerConfig(base).WORKER_SHARED_SECRET).toBe("");
  });
});
