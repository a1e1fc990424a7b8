import { type SQL, sql } from "drizzle-orm";
import type { Database, Queryable } from "./connect";
import { type EmbeddingModel, embeddingModels, type StagedLabels } from "./schema";

/**
 * The CLIP models of the catalogue (db/schema/image-embeddings.ts): registering a model with its own
 * index, which one search reads, how far a new one has got, and the switch. Each model's vectors sit
 * in image_embeddings under its id; its HNSW index covers only its rows, over a cast of the column to
 * its width (pgvector indexes one dimension per index), so search names both the model and the
 * width, exactly as the index does ({@link vectorDistance}).
 */

/** Anything that runs a statement: the pooled or HTTP database, a transaction. */
type Executor = { execute(statement: SQL): Promise<{ rows: unknown[] }> };
async function rowsOf<T>(db: Executor, statement: SQL): Promise<T[]> {
  return (await db.execute(statement)).rows as T[];
}

/**
 * How long a retired model's vectors stay after a switch: far longer than an edge isolate trusts its
 * idea of the active model (edge/services/catalogue/search.ts, 30 s), so no search reads a model
 * whose vectors are gone.
 */
export const RETIRED_GRACE_MS = 10 * 60_000;

/** pgvector's HNSW limit for `vector`. */
export const MAX_EMBEDDING_DIMENSIONS = 2000;

/** What search needs of the model it reads. */
export type SearchModel = Pick<EmbeddingModel, "id" | "model" | "version" | "dimensions">;

/** The per-model index: its name, and its definition (the HNSW settings of migration 0011). */
export function embeddingIndexName(modelId: number): string {
  return `image_embeddings_${Math.trunc(modelId)}_hnsw`;
}
export function embeddingIndexDefinition(model: Pick<SearchModel, "id" | "dimensions">): string {
  const id = Math.trunc(model.id);
  const width = Math.trunc(model.dimensions);
  return `"${embeddingIndexName(id)}" on "image_embeddings" using hnsw ((embedding::vector(${width})) vector_cosine_ops) with (m = 24, ef_construction = 200) where model_id = ${id}`;
}

/**
 * `e.embedding <=> query` in the form the model's partial index answers: the model id and width as
 * literals (the planner matches an index's predicate and expression only against constants).
 */
export function vectorDistance(model: Pick<SearchModel, "dimensions">, alias: string, query: SQL): SQL {
  const width = Math.trunc(model.dimensions);
  checkAlias(alias);
  return sql`${sql.raw(`${alias}.embedding::vector(${width})`)} <=> ${query}::vector(${sql.raw(String(width))})`;
}

/** `e.model_id = <id>` as a literal, so the model's partial index applies. */
export function modelIs(model: Pick<SearchModel, "id">, alias: string): SQL {
  checkAlias(alias);
  return sql.raw(`${alias}.model_id = ${Math.trunc(model.id)}`);
}

/** Table aliases go into the SQL text: only plain identifiers. */
function checkAlias(alias: string): void {
  if (!/^[a-z_][a-z0-9_]*$/.test(alias)) throw new Error(`not a table alias: ${alias}`);
}

/** The model search reads, or null before any worker has registered one. */
export async function activeModel(db: Executor): Promise<SearchModel | null> {
  const rows = await rowsOf<{ id: number; model: string; version: string; dimensions: number }>(
    db,
    sql`select id, model, version, dimensions from embedding_models where state = 'active'`,
  );
  const row = rows[0];
  return row ? { id: Number(row.id), model: row.model, version: row.version, dimensions: Number(row.dimensions) } : null;
}

async function findModel(db: Queryable, model: string, version: string): Promise<EmbeddingModel | null> {
  const rows = await db.select().from(embeddingModels).where(sql`${embeddingModels.model} = ${model} and ${embeddingModels.version} = ${version}`);
  return rows[0] ?? null;
}

/**
 * Makes a model known (a worker's CLIP_MODEL at start): its row and its index (empty, so quick).
 * The first model of a catalogue becomes active at once; a later one starts `building`; a retired
 * one coming back builds again. Throws when the model was registered with another width.
 */
export async function registerModel(db: Database, model: { model: string; version: string; dimensions: number }): Promise<EmbeddingModel> {
  if (!Number.isInteger(model.dimensions) || model.dimensions < 1 || model.dimensions > MAX_EMBEDDING_DIMENSIONS) {
    throw new Error(`${model.model} makes ${model.dimensions}-dimensional embeddings; pgvector's HNSW indexes 1 to ${MAX_EMBEDDING_DIMENSIONS}`);
  }
  await db
    .insert(embeddingModels)
    .values({ model: model.model, version: model.version, dimensions: model.dimensions })
    .onConflictDoNothing({ target: [embeddingModels.model, embeddingModels.version] });
  let row = await findModel(db, model.model, model.version);
  if (!row) throw new Error(`the model ${model.model} (${model.version}) could not be registered`);
  if (row.dimensions !== model.dimensions) {
    throw new Error(`${model.model} (${model.version}) was registered with ${row.dimensions} dimensions, not ${model.dimensions}`);
  }
  try {
    await db.execute(sql.raw(`create index if not exists ${embeddingIndexDefinition(row)}`));
  } catch (error) {
    // Two workers registering the same new model at once: the other one created the index.
    if (!/already exists/.test((error as Error).message)) throw error;
  }
  if (row.state === "retired") {
    await db.update(embeddingModels).set({ state: "building", retiredAt: null }).where(sql`${embeddingModels.id} = ${row.id}`);
  }
  // No model serves search yet: this one does (nothing is embedded by another to wait for). Two
  // workers with different models on an empty catalogue: one wins (the one-active index), the other builds.
  try {
    await db.execute(sql`update embedding_models set state = 'active', activated_at = now()
      where id = ${row.id} and not exists (select 1 from embedding_models where state = 'active')`);
  } catch (error) {
    if (!/duplicate key|embedding_models_one_active_idx/.test((error as Error).message)) throw error;
  }
  row = await findModel(db, model.model, model.version);
  if (!row) throw new Error(`the model ${model.model} (${model.version}) disappeared`);
  return row;
}

export type SwitchProgress = {
  /** The model search reads. */
  active: SearchModel | null;
  /** The model being rolled in, when there is one. */
  building: SearchModel | null;
  /** Images with the active model's embedding. */
  total: number;
  /** Of those, how many the building model has embedded too. */
  done: number;
};

/** How far the model being rolled in has got: the images the active one has, that it has too. */
export async function switchProgress(db: Executor): Promise<SwitchProgress> {
  const rows = await rowsOf<{ id: number; model: string; version: string; dimensions: number; state: string }>(
    db,
    sql`select id, model, version, dimensions, state from embedding_models where state in ('active', 'building') order by created_at desc, id desc`,
  );
  const pick = (state: string) => {
    const row = rows.find((r) => r.state === state);
    return row ? { id: Number(row.id), model: row.model, version: row.version, dimensions: Number(row.dimensions) } : null;
  };
  const active = pick("active");
  const building = pick("building");
  if (!active) return { active, building, total: 0, done: 0 };
  const counts = await rowsOf<{ total: string; done: string }>(
    db,
    sql`select count(*)::text as total,
      ${building ? sql`count(b.image_id)::text` : sql`'0'`} as done
    from image_embeddings a
    ${building ? sql`left join image_embeddings b on b.model_id = ${building.id} and b.image_id = a.image_id` : sql``}
    where a.model_id = ${active.id}`,
  );
  return { active, building, total: Number(counts[0]?.total ?? 0), done: Number(counts[0]?.done ?? 0) };
}

/**
 * Makes `modelId` the model search reads, when it has embedded every image the active one has:
 * one transaction, so every search sees either the old model or the new one, whole. The old model
 * is `retired` (its vectors stay until {@link dropRetiredModels}, so a search that read the old
 * model a moment ago still finds its vectors). Returns whether it switched.
 */
export async function activateWhenCovered(db: Database, modelId: number): Promise<boolean> {
  return db.transaction(async (tx) => {
    // Serialises switches (and a registration racing one) on the models table.
    await tx.execute(sql`lock table embedding_models in share row exclusive mode`);
    const missing = await rowsOf<{ missing: boolean }>(
      tx,
      sql`select exists (
        select 1 from image_embeddings a join embedding_models m on m.id = a.model_id and m.state = 'active'
        where not exists (select 1 from image_embeddings b where b.model_id = ${modelId} and b.image_id = a.image_id)
      ) as missing`,
    );
    if (missing[0]?.missing) return false;
    const target = await rowsOf<{ state: string }>(tx, sql`select state from embedding_models where id = ${modelId}`);
    if (target[0]?.state !== "building") return false;
    await tx.execute(sql`update embedding_models set state = 'retired', retired_at = now() where state = 'active'`);
    await tx.execute(sql`update embedding_models set state = 'active', activated_at = now() where id = ${modelId}`);
    return true;
  });
}

/**
 * Deletes the vectors of models retired at least `graceMs` ago (longer than an edge isolate keeps
 * its idea of the active model), index first, then the rows in batches so no statement holds
 * millions of row locks. Returns the models dropped.
 */
export async function dropRetiredModels(db: Database, graceMs: number, batch = 10_000): Promise<string[]> {
  const retired = await rowsOf<{ id: number; model: string }>(
    db,
    sql`select id, model from embedding_models where state = 'retired' and retired_at <= now() - make_interval(secs => ${graceMs / 1000})`,
  );
  for (const row of retired) {
    await db.execute(sql.raw(`drop index if exists "${embeddingIndexName(Number(row.id))}"`));
    // Keyset over the primary key (image_id, model_id): each batch starts where the last one ended.
    let after = "00000000-0000-0000-0000-000000000000";
    for (;;) {
      const deleted = await rowsOf<{ image_id: string }>(
        db,
        sql`delete from image_embeddings where model_id = ${row.id} and image_id in (
          select image_id from image_embeddings where model_id = ${row.id} and image_id > ${after} order by image_id limit ${batch})
        returning image_id`,
      );
      if (deleted.length === 0) break;
      after = deleted
        .map((d) => d.image_id)
        .sort()
        .at(-1) as string;
    }
    await db.execute(sql`delete from embedding_models where id = ${row.id} and state = 'retired'`);
  }
  return retired.map((row) => row.model);
}

/**
 * Stores (or replaces) image embeddings, each under its model's id found by name and version, in one
 * statement, with the AI labels a switch stages beside them (gpu-worker/reembed.ts; none otherwise); an
 * embedding of a model not registered (or of another width) stores nothing.
 */
export async function storeEmbeddingRows(
  db: Queryable,
  rows: readonly { imageId: string; model: string; version: string; vector: ArrayLike<number>; labels?: StagedLabels | null }[],
): Promise<void> {
  if (rows.length === 0) return;
  const text = (vector: ArrayLike<number>) => `[${Array.from(vector).join(",")}]`;
  await db.execute(sql`insert into image_embeddings (model_id, image_id, embedding, labels)
    select m.id, r.image_id, r.embedding::vector, r.labels::jsonb
    from unnest(${sql.param(rows.map((r) => r.imageId))}::uuid[], ${sql.param(rows.map((r) => r.model))}::text[], ${sql.param(rows.map((r) => r.version))}::text[],
      ${sql.param(rows.map((r) => text(r.vector)))}::text[], ${sql.param(rows.map((r) => r.vector.length))}::int[],
      ${sql.param(rows.map((r) => (r.labels ? JSON.stringify(r.labels) : null)))}::text[]) as r(image_id, model, version, embedding, width, labels)
    join embedding_models m on m.model = r.model and m.version = r.version and m.dimensions = r.width
    on conflict (image_id, model_id) do update set embedding = excluded.embedding, labels = excluded.labels`);
}

/** {@link storeEmbeddingRows} for one image. */
export async function storeEmbeddings(db: Queryable, imageId: string, embeddings: readonly { model: string; version: string; vector: ArrayLike<number> }[]): Promise<void> {
  await storeEmbeddingRows(
    db,
    embeddings.map((e) => ({ imageId, ...e })),
  );
}

/** An image's embeddings, by model, oldest model first. */
export async function embeddingsOf(db: Executor, imageId: string): Promise<{ model: string; version: string; state: string; vector: number[] }[]> {
  const rows = await rowsOf<{ model: string; version: string; state: string; vector: string }>(
    db,
    sql`select m.model, m.version, m.state, e.embedding::text as vector
      from image_embeddings e join embedding_models m on m.id = e.model_id where e.image_id = ${imageId} order by m.id`,
  );
  return rows.map((row) => ({ model: row.model, version: row.version, state: row.state, vector: JSON.parse(row.vector) as number[] }));
}
