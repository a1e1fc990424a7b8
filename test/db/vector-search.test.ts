import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/connect";
import { openEmbeddedPostgres } from "../../db/local/pglite";
import { createScratchDatabase } from "../../db/local/scratch";
import { databaseDefault, EF_SEARCH_STEPS, efSearchFor, tuneVectorSearch } from "../../db/vector-search";

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

type Backend = { db: Database; close(): Promise<void> };

const serverUrl = process.env.TEST_DATABASE_URL;
const backends: { name: string; open: () => Promise<Backend> }[] = [
  {
    name: "PGlite",
    open: async () => {
      const { client, db } = await openEmbeddedPostgres();
      // The PGlite drizzle database answers execute() with { rows } as the Neon one does.
      return { db: db as unknown as Database, close: () => client.close() };
    },
  },
  ...(serverUrl
    ? [
        {
          name: "PostgreSQL server",
          open: async () => {
            const scratch = await createScratchDatabase(serverUrl);
            return { db: scratch.db, close: () => scratch.drop() };
          },
        },
      ]
    : []),
];

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

  it("has the HNSW graph of migration 0011, which leaves an index already built that way alone", async () => {
    const index = async () =>
      (
        await backend.db.execute<{ oid: number; def: string }>(
          sql`select to_regclass('images_embedding_hnsw_idx')::oid::int as oid, pg_get_indexdef(to_regclass('images_embedding_hnsw_idx')) as def`,
        )
      ).rows[0];
    const before = await index();
    expect(before?.def.replace(/\s+/g, "")).toContain("(m='24',ef_construction='200')");
    // Run again (as after an operator built and swapped the index concurrently): no rebuild, the same index.
    await backend.db.execute(sql.raw(readFileSync(resolve(import.meta.dirname, "../../db/migrations/0011_hnsw_m24.sql"), "utf8")));
    expect((await index())?.oid).toBe(before?.oid);
  });
});
