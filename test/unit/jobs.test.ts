import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { JOB_TYPES, jobMessage, jobPolicy, parseJobMessage, QUEUE_MAX_DELIVERIES, REPROCESS_STEPS, retryDelaySeconds } from "../../common/jobs";
import { REPROCESSABLE } from "../../gpu-worker/pipeline/steps";

const root = resolve(import.meta.dirname, "../..");
const imageId = "6f1c8a4e-3b1d-4c55-9a40-2f1f6f7d2a10";

describe("job messages", () => {
  it("round-trips a valid message", () => {
    const message = jobMessage("image.process", { imageId }, new Date("2026-01-01T00:00:00Z"));
    expect(parseJobMessage(JSON.parse(JSON.stringify(message)))).toEqual(message);
    const reprocess = jobMessage("image.reprocess", { imageId, steps: ["embedding", "tags"] }, new Date("2026-01-01T00:00:00Z"));
    expect(parseJobMessage(JSON.parse(JSON.stringify(reprocess)))).toEqual(reprocess);
  });

  it("rejects unknown types, bad payloads and non-objects", () => {
    expect(() => parseJobMessage({ type: "image.explode", payload: {}, enqueuedAt: new Date().toISOString() })).toThrow();
    expect(() => parseJobMessage({ type: "image.process", payload: { imageId: "42" }, enqueuedAt: new Date().toISOString() })).toThrow();
    expect(() => parseJobMessage("image.process")).toThrow();
  });

  it("accepts a reprocess only with known steps, at least one", () => {
    const reprocess = (steps: unknown) => parseJobMessage({ type: "image.reprocess", payload: { imageId, steps }, enqueuedAt: new Date().toISOString() });
    expect(() => reprocess([])).toThrow(/at least one step/);
    expect(() => reprocess(["identity"])).toThrow(/steps are/);
    expect(reprocess(["colours"]).payload).toEqual({ imageId, steps: ["colours"] });
  });
});

describe("job policies", () => {
  it("back off from the policy's base, doubling, up to its cap", () => {
    const policy = jobPolicy("image.process");
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelaySeconds(policy, n))).toEqual([10, 20, 40, 80, 160, 300, 300, 300]);
    expect(retryDelaySeconds(policy, 0)).toBe(10);
    expect([1, 2, 3].map((n) => retryDelaySeconds({ backoff: { baseSeconds: 1, maxSeconds: 300 } }, n))).toEqual([1, 2, 4]);
  });

  it("let the queue deliver as often as the most demanding job wants", () => {
    expect(QUEUE_MAX_DELIVERIES).toBe(Math.max(...JOB_TYPES.map((type) => jobPolicy(type).maxAttempts)));
  });

  it("match the production pull consumer's --message-retries wherever the deploy steps give it", () => {
    const docs = [
      "README.md",
      ...readdirSync(resolve(root, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => `docs/${f}`),
    ];
    const retries = docs.flatMap((path) =>
      [...readFileSync(resolve(root, path), "utf8").matchAll(/consumer http add edgestock-jobs --message-retries (\d+)/g)].map((m) => Number(m[1])),
    );
    expect(retries.length).toBeGreaterThan(0);
    expect(new Set(retries)).toEqual(new Set([QUEUE_MAX_DELIVERIES - 1]));
  });

  it("say what a final failure does, and only image.process fails the image", () => {
    expect(Object.fromEntries(JOB_TYPES.map((type) => [type, jobPolicy(type).onFinalFailure]))).toEqual({ "image.process": "mark-image-failed", "image.reprocess": "record-job" });
  });
});

describe("reprocess steps", () => {
  it("are the pipeline steps marked reprocessable, and no others", () => {
    expect([...REPROCESSABLE].sort()).toEqual([...REPROCESS_STEPS].sort());
  });
});
