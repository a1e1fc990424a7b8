import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { EMBEDDING_INDEX_DEFINITION } from "../../migrate/hnsw";

/** Lower case, no spaces: drizzle-kit writes `WITH (m=16,ef_construction=64)`, the rebuild `with (m = 16, ...)`. */
const normalise = (sql: string) => sql.toLowerCase().replace(/\s+/g, "");

describe("the embedding index --defer-index rebuilds", () => {
  it("is defined exactly as the migration creates it", () => {
    const migration = readFileSync(resolve(import.meta.dirname, "../../db/migrations/0001_init.sql"), "utf8");
    const created = /CREATE INDEX ("images_embedding_hnsw_idx"[^;]*);/.exec(migration)?.[1];
    expect(created).toBeDefined();
    expect(normalise(EMBEDDING_INDEX_DEFINITION)).toBe(normalise(created as string));
  });
});
