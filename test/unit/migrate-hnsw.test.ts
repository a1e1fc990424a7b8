import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { EMBEDDING_INDEX_DEFINITION } from "../../migrate/hnsw";

/** Lower case, no spaces: drizzle-kit writes `WITH (m=16,ef_construction=64)`, the rebuild `with (m = 16, ...)`. */
const normalise = (sql: string) => sql.toLowerCase().replace(/\s+/g, "");

describe("the embedding index --defer-index rebuilds", () => {
  it("is defined exactly as the migration creates it", () => {
    // The newest migration that creates the index is the definition a migrated database has.
    const folder = resolve(import.meta.dirname, "../../db/migrations");
    const creating = readdirSync(folder)
      .filter((name) => name.endsWith(".sql"))
      .sort()
      .map((name) => readFileSync(resolve(folder, name), "utf8"))
      .filter((sql) => /CREATE INDEX "images_embedding_hnsw_idx"/.test(sql));
    const created = /CREATE INDEX ("images_embedding_hnsw_idx"[^;]*);/.exec(creating.at(-1) ?? "")?.[1];
    expect(created).toBeDefined();
    expect(normalise(EMBEDDING_INDEX_DEFINITION)).toBe(normalise(created as string));
  });
});
