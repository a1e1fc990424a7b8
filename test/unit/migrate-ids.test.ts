import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { imageIdFor } from "../../migrate/ids";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("content-derived image ids", () => {
  it("is the same for the same content, different for different content", () => {
    expect(imageIdFor(sha("a"))).toBe(imageIdFor(sha("a")));
    expect(imageIdFor(sha("a"))).not.toBe(imageIdFor(sha("b")));
  });

  it("is a version 8 UUID with the RFC 4122 variant", () => {
    for (const text of ["a", "b", "c", "d", "e"]) {
      expect(imageIdFor(sha(text))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it("is the first 16 bytes of SHA-256 over the namespace and the hash, with the version and variant bits set", () => {
    const content = sha("photo");
    const digest = createHash("sha256").update(`edgestock-migration:${content}`).digest("hex");
    const id = imageIdFor(content).replaceAll("-", "");
    expect(id.slice(0, 12)).toBe(digest.slice(0, 12));
    expect(id[12]).toBe("8");
    expect(id.slice(13, 16)).toBe(digest.slice(13, 16));
    expect(id.slice(18)).toBe(digest.slice(18, 32));
    // Stable across releases: stored ids and object keys depend on it.
    expect(imageIdFor("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")).toBe(imageIdFor(sha("")));
  });

  it("refuses anything but a lower-case hex SHA-256", () => {
    expect(() => imageIdFor("abc")).toThrow(RangeError);
    expect(() => imageIdFor(sha("a").toUpperCase())).toThrow(RangeError);
  });
});
