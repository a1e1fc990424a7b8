import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/connect";
import {
  activateWhenCovered,
  activeModel,
  dropRetiredModels,
  embeddingIndexName,
  embeddingsOf,
  modelIs,
  registerModel,
  storeEmbeddings,
  switchProgress,
  vectorDistance,
} from "../../db/embedding-models";
import { images, users } from "../../db/schema";
import { type Backend, dbBackends } from "./backends";

/**
 * Embeddings per model (db/embedding-models.ts) on PGlite and, with TEST_DATABASE_URL, a server:
 * two models of different widths (512 and 768) side by side, each with its own partial index; search
 * reads the active one; the switch happens only when the new model covers every image the active one
 * has, in one transaction; the retired model's vectors go afterwards.
 */

const backends = dbBackends("edgestock_models");

/** A deterministic unit vector of `width`; seeds close together point close together. */
function unit(seed: number, width: number): number[] {
  const v = Array.from({ length: width }, (_, i) => Math.sin(seed * 0.01 + i * 0.37) + Math.cos(i * 1.3));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

const OLD = { model: "ViT-B-32__openai", version: "v1", dimensions: 512 };
const NEW = { model: "ViT-B-16-SigLIP2__webli", version: "v1", dimensions: 768 };

describe.each(backends)("embedding models on $name", ({ open }) => {
  let backend: Backend;
  let db: Database;
  const ids: string[] = [];

  /** The ids of the model's nearest images to `query`, the way search reads them (its partial index). */
  async function nearest(model: { id: number; dimensions: number }, query: number[], limit = 3): Promise<string[]> {
    const distance = vectorDistance(model, "e", sql`${`[${query.join(",")}]`}`);
    const { rows } = await db.execute<{ id: string }>(sql`select e.image_id as id from image_embeddings e where ${modelIs(model, "e")} order by ${distance} limit ${limit}`);
    return rows.map((r) => r.id);
  }

  beforeAll(async () => {
    backend = await open();
    db = backend.db;
    const [user] = await db
      .insert(users)
      .values({ email: `${randomUUID()}@example.test`, passwordHash: "x", role: "contributor", displayName: "Models" })
      .returning({ id: users.id });
    for (let i = 0; i < 6; i++) {
      const [row] = await db
        .insert(images)
        .values({ contributorId: user?.id as string, title: `image ${i}` })
        .returning({ id: images.id });
      ids.push(row?.id as string);
    }
  }, 180_000);
  afterAll(() => backend?.close());

  it("makes the first model active with its own index, and a second of another width `building`", async () => {
    const old = await registerModel(db, OLD);
    expect(old).toMatchObject({ ...OLD, state: "active" });
    const next = await registerModel(db, NEW);
    expect(next).toMatchObject({ ...NEW, state: "building" });
    // Registering again changes nothing; another width for the same model is refused.
    expect((await registerModel(db, NEW)).id).toBe(next.id);
    await expect(registerModel(db, { ...NEW, dimensions: 1024 })).rejects.toThrow(/registered with 768 dimensions/);
    await expect(registerModel(db, { model: "too-wide", version: "1", dimensions: 4096 })).rejects.toThrow(/1 to 2000/);
    const defs = await db.execute<{ name: string; def: string }>(
      sql`select indexname as name, indexdef as def from pg_indexes where indexname in (${embeddingIndexName(old.id)}, ${embeddingIndexName(next.id)}) order by indexname`,
    );
    expect(defs.rows.map((r) => r.def).join("\n")).toMatch(/vector\(512\)[\s\S]*vector\(768\)|vector\(768\)[\s\S]*vector\(512\)/);
    expect((await activeModel(db))?.model).toBe(OLD.model);
  });

  it("stores each image's vectors by model, and finds each model's neighbours through its own index", async () => {
    for (const [i, id] of ids.entries()) await storeEmbeddings(db, id, [{ ...OLD, vector: unit(i * 100, 512) }]);
    // The new model has covered half the catalogue so far.
    for (const [i, id] of ids.slice(0, 3).entries()) await storeEmbeddings(db, id, [{ ...NEW, vector: unit(i * 100, 768) }]);
    // A vector of the wrong width, or of a model nobody registered, stores nothing.
    await storeEmbeddings(db, ids[5] as string, [{ ...NEW, vector: unit(1, 512) }]);
    await storeEmbeddings(db, ids[5] as string, [{ model: "unknown", version: "1", vector: unit(1, 512) }]);
    expect((await embeddingsOf(db, ids[0] as string)).map((e) => [e.model, e.vector.length])).toEqual([
      [OLD.model, 512],
      [NEW.model, 768],
    ]);
    expect((await embeddingsOf(db, ids[5] as string)).map((e) => e.model)).toEqual([OLD.model]);

    const active = (await activeModel(db)) as { id: number; dimensions: number };
    expect(await nearest(active, unit(200, 512), 1)).toEqual([ids[2]]);
    const building = (await switchProgress(db)).building as { id: number; dimensions: number };
    expect(await nearest(building, unit(100, 768), 1)).toEqual([ids[1]]);
    // The plans use the partial indexes (sequential scans priced out, as the tables are tiny).
    const plan = await db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      const distance = vectorDistance(building, "e", sql`${`[${unit(1, 768).join(",")}]`}`);
      return (await tx.execute<{ "QUERY PLAN": string }>(sql`explain select e.image_id from image_embeddings e where ${modelIs(building, "e")} order by ${distance} limit 3`)).rows;
    });
    expect(plan.map((r) => r["QUERY PLAN"]).join("\n")).toContain(embeddingIndexName(building.id));
  });

  it("switches only when the new model covers every image the active one has, in one step", async () => {
    const progress = await switchProgress(db);
    expect(progress).toMatchObject({ active: { model: OLD.model }, building: { model: NEW.model }, total: 6, done: 3 });
    const building = progress.building as { id: number };
    expect(await activateWhenCovered(db, building.id)).toBe(false);
    expect((await activeModel(db))?.model).toBe(OLD.model);

    for (const [i, id] of ids.slice(3).entries()) await storeEmbeddings(db, id, [{ ...NEW, vector: unit((i + 3) * 100, 768) }]);
    expect(await switchProgress(db)).toMatchObject({ total: 6, done: 6 });
    expect(await activateWhenCovered(db, building.id)).toBe(true);
    expect(await activeModel(db)).toMatchObject({ model: NEW.model, dimensions: 768 });
    const states = await db.execute<{ model: string; state: string }>(sql`select model, state from embedding_models order by id`);
    expect(states.rows).toEqual([
      { model: OLD.model, state: "retired" },
      { model: NEW.model, state: "active" },
    ]);
    // Once active, there is nothing to switch to.
    expect(await activateWhenCovered(db, building.id)).toBe(false);
  });

  it("drops a retired model's vectors and index only after the grace period", async () => {
    const old = (await db.execute<{ id: number }>(sql`select id from embedding_models where model = ${OLD.model}`)).rows[0] as { id: number };
    expect(await dropRetiredModels(db, 60 * 60_000)).toEqual([]);
    expect((await embeddingsOf(db, ids[0] as string)).length).toBe(2);
    expect(await dropRetiredModels(db, 0, 2)).toEqual([OLD.model]);
    expect((await embeddingsOf(db, ids[0] as string)).map((e) => e.model)).toEqual([NEW.model]);
    const count = await db.execute<{ n: number }>(sql`select count(*)::int as n from image_embeddings where model_id = ${old.id}`);
    expect(count.rows[0]?.n).toBe(0);
    const index = await db.execute<{ found: string | null }>(sql`select to_regclass(${embeddingIndexName(old.id)})::text as found`);
    expect(index.rows[0]?.found).toBeNull();
    // The old model comes back (CLIP_MODEL set back): it builds again from nothing.
    expect(await registerModel(db, OLD)).toMatchObject({ state: "building" });
  });
});
