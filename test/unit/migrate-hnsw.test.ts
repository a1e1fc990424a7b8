import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { embeddingIndexDefinition } from "../../db/embedding-models";

/** Lower case, no spaces or identifier quotes: the migration quotes names, the code does not always. */
const normalise = (sql: string) => sql.toLowerCase().replace(/[\s"]+/g, "");

describe("the per-model embedding index", () => {
  it("is defined exactly as migration 0014 creates the first model's", () => {
    const migration = readFileSync(resolve(import.meta.dirname, "../../db/migrations/0014_image_embeddings.sql"), "utf8");
    const format = /EXECUTE format\('(CREATE INDEX %I ON [^']*)'/.exec(migration)?.[1];
    expect(format).toBeDefined();
    const created = (format as string).replace("%I", "image_embeddings_7_hnsw").replace("%s", "7");
    expect(normalise(created)).toBe(normalise(`CREATE INDEX ${embeddingIndexDefinition({ id: 7, dimensions: 512 })}`));
    // Another width changes only the cast.
    expect(embeddingIndexDefinition({ id: 8, dimensions: 768 })).toContain("embedding::vector(768)");
    expect(embeddingIndexDefinition({ id: 8, dimensions: 768 })).toContain("where model_id = 8");
  });
});
