import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activeModel, embeddingIndexName, registerModel } from "../../db/embedding-models";
import { databaseDefault, EF_SEARCH_STEPS, efSearchFor, tuneVectorSearch } from "../../db/vector-search";
import { type Backend, dbBackends } from "./backends";

describe("ef_search by catalogue size", () => {
  it("rises with the catalogue, step by step, and stays within pgvector's limit", () => {
    expect(efSearchFor(0)).toBe(EF_SEARCH_STEPS[0]?.efSearch);
    expect(efSearchFor(100_000)).toBe(200);
    expect(efSearchFor(150_000)).toBe(200);
    expect(efSearchFor(150_001)).toBe(400);
    expect(efSearchFor(1_000_000)).toBe(400);
    expect(efSearchFor(2_000_000)).toBe(800);
    expect(efSearchFor(2_000_001)).toBe(1000);
    expect(efSearchFor(5_000_000)).toBe(1000);
    expect(efSearchFor(10_000_000)).toBe(1000);
    const values = EF_SEARCH_STEPS.map((s) => s.efSearch);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    for (const v of values) expect(v).toBeLessThanOrEqual(1000);
    expect(EF_SEARCH_STEPS.at(-1)?.upToImages).toBe(Number.POSITIVE_INFINITY);
  });
});

const backends = dbBackends();

describe.each(backends)("tuneVectorSearch on $name", ({ open }) => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await open();
  }, 180_000);
  afterAll(() => backend?.close());

  it("sets the database's default ef_search for its size once, and leaves it when it is right", async () => {
    // Migration 0006's value, before any tuning.
    expect(await databaseDefault(backend.db, "hnsw.ef_search")).toBe("100");
    const first = await tuneVectorSearch(backend.db);
    expect(first).toEqual({ embeddedImages: 0, efSearch: 200, changed: true });
    expect(await databaseDefault(backend.db, "hnsw.ef_search")).toBe("200");
    // The iterative scan setting of the same migration is untouched.
    expect(await databaseDefault(backend.db, "hnsw.iterative_scan")).toBe("relaxed_order");
    expect(await tuneVectorSearch(backend.db)).toEqual({ embeddedImages: 0, efSearch: 200, changed: false });
  });

  it("moves the 512-wide vectors to the active model's partial index with migration 0011's graph (m 24, ef_construction 200)", async () => {
    // A fresh database has no model yet; the first one registered becomes active with its own index.
    expect(await activeModel(backend.db)).toBeNull();
    const model = await registerModel(backend.db, { model: "index-test", version: "1", dimensions: 512 });
    expect(model.state).toBe("active");
    const def = (await backend.db.execute<{ def: string }>(sql`select pg_get_indexdef(to_regclass(${embeddingIndexName(model.id)})) as def`)).rows[0]?.def ?? "";
    expect(def.replace(/\s+/g, "")).toContain("(m='24',ef_construction='200')");
    expect(def).toContain("(embedding)::vector(512)");
    expect(def).toContain(`WHERE (model_id = ${model.id})`);
  });
});
