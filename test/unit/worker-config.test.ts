import { describe, expect, it } from "vitest";
import { readWorkerConfig } from "../../gpu-worker/config";

describe("GPU worker configuration", () => {
  it("names the missing variable", () => {
    expect(() => readWorkerConfig({})).toThrow(/DATABASE_URL is not set/);
  });

  it("parses and defaults", () => {
    const config = readWorkerConfig({ DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db", HEARTBEAT_INTERVAL_MS: "1000" });
    expect(config.HEARTBEAT_INTERVAL_MS).toBe(1000);
    expect(config.WORKER_ID).toMatch(/-\d+$/);
  });

  it("refuses nonsense numbers", () => {
    expect(() => readWorkerConfig({ DATABASE_URL: "postgres://x@h/db", HEARTBEAT_INTERVAL_MS: "soon" })).toThrow(/HEARTBEAT_INTERVAL_MS/);
  });
});
