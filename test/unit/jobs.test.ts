import { describe, expect, it } from "vitest";
import { jobMessage, parseJobMessage } from "../../common/jobs";

describe("job messages", () => {
  it("round-trips a valid message", () => {
    const message = jobMessage("image.process", { imageId: "6f1c8a4e-3b1d-4c55-9a40-2f1f6f7d2a10" }, new Date("2026-01-01T00:00:00Z"));
    expect(parseJobMessage(JSON.parse(JSON.stringify(message)))).toEqual(message);
  });

  it("rejects unknown types, bad payloads and non-objects", () => {
    expect(() => parseJobMessage({ type: "image.explode", payload: {}, enqueuedAt: new Date().toISOString() })).toThrow();
    expect(() => parseJobMessage({ type: "image.process", payload: { imageId: "42" }, enqueuedAt: new Date().toISOString() })).toThrow();
    expect(() => parseJobMessage("image.process")).toThrow();
  });
});
