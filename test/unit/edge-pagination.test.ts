import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, page } from "../../edge/lib/pagination";
import { ApiError } from "../../edge/lib/problem";

describe("cursor pagination", () => {
  const rows = Array.from({ length: 5 }, (_, i) => ({ id: `00000000-0000-4000-8000-00000000000${i}`, createdAt: new Date(Date.UTC(2026, 0, 5 - i)) }));

  it("returns the page and a cursor that decodes to its last row", () => {
    const result = page(rows.slice(0, 3), 2);
    expect(result.items).toHaveLength(2);
    expect(decodeCursor(result.nextCursor as string)).toEqual({ id: rows[1]?.id, createdAt: rows[1]?.createdAt });
  });

  it("has no next cursor on the last page", () => {
    expect(page(rows.slice(0, 2), 2).nextCursor).toBeNull();
  });

  it("refuses cursors it did not issue", () => {
    expect(() => decodeCursor("bm90LWEtY3Vyc29y")).toThrow(ApiError);
    expect(() => decodeCursor(encodeCursor({ id: "x", createdAt: new Date() }))).toThrow(ApiError);
  });
});
