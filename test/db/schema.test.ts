import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddingIndexDefinition } from "../../db/embedding-models";
import { openEmbeddedPostgres } from "../../db/local/pglite";
import { createScratchDatabase } from "../../db/local/scratch";

type Row = Record<string, unknown>;
type Query = (text: string, params?: unknown[]) => Promise<Row[]>;

/** A freshly migrated database, whatever driver sits behind it. */
type Backend = {
  query: Query;
  /** Runs `fn` in one transaction on one connection, so `SET LOCAL` applies to its queries. */
  transaction<T>(fn: (query: Query) => Promise<T>): Promise<T>;
  close(): Promise<void>;
};

async function openPglite(): Promise<Backend> {
  const { client } = await openEmbeddedPostgres();
  return {
    query: async (text, params) => (await client.query<Row>(text, params)).rows,
    transaction: (fn) => client.transaction((tx) => fn(async (text, params) => (await tx.query<Row>(text, params)).rows)),
    close: () => client.close(),
  };
}

/** A scratch database on the server at `url`, migrated through the Neon driver and the local proxy. */
async function openServer(url: string): Promise<Backend> {
  const scratch = await createScratchDatabase(url);
  const { pool } = scratch;
  return {
    query: async (text, params) => (await pool.query(text, params)).rows,
    transaction: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query("begin");
        const result = await fn(async (text, params) => (await client.query(text, params)).rows);
        await client.query("commit");
        return result;
      } catch (error) {
        await client.query("rollback");
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => scratch.drop(),
  };
}

const serverUrl = process.env.TEST_DATABASE_URL;
const backends: { name: string; open: () => Promise<Backend> }[] = [
  { name: "PGlite", open: openPglite },
  ...(serverUrl ? [{ name: "PostgreSQL server", open: () => openServer(serverUrl) }] : []),
];

/** ON DELETE RESTRICT is reported as restrict_violation (23001) from PostgreSQL 18, foreign_key_violation (23503) before. */
const RESTRICTED = { code: expect.stringMatching(/^(23001|23503)$/) };

/** A deterministic 512-d vector literal; different seeds point in different directions. */
function embedding(seed: number): string {
  return `[${Array.from({ length: 512 }, (_, i) => Math.sin(seed * 997 + i * 0.37).toFixed(6)).join(",")}]`;
}

async function createUser(db: Backend, role = "buyer"): Promise<string> {
  const [row] = await db.query("insert into users (email, password_hash, display_name, role) values ($1, 'x', 'Test user', $2) returning id", [
    `${randomUUID()}@example.test`,
    role,
  ]);
  return String(row?.id);
}

/** A 512-wide model of its own with its partial index, as a worker registers one (db/embedding-models.ts). */
async function createModel(db: Backend): Promise<number> {
  const [row] = await db.query("insert into embedding_models (model, version, dimensions) values ($1, '1', 512) returning id", [`schema-test-${randomUUID()}`]);
  const id = Number(row?.id);
  await db.query(`create index ${embeddingIndexDefinition({ id, dimensions: 512 })}`);
  return id;
}

async function createImage(
  db: Backend,
  contributorId: string,
  fields: { title?: string; description?: string; tagText?: string; width?: number; height?: number; embedding?: string; modelId?: number } = {},
): Promise<string> {
  const [row] = await db.query(
    `insert into images (contributor_id, title, description, tag_text, width, height)
     values ($1, $2, $3, $4, $5, $6) returning id`,
    [contributorId, fields.title ?? "Untitled", fields.description ?? null, fields.tagText ?? "", fields.width ?? null, fields.height ?? null],
  );
  if (fields.embedding) await db.query("insert into image_embeddings (model_id, image_id, embedding) values ($1, $2, $3::vector)", [fields.modelId, row?.id, fields.embedding]);
  return String(row?.id);
}

/** The EXPLAIN output of `text` with sequential scans priced out, as one string. */
async function planWithoutSeqScan(db: Backend, text: string, params?: unknown[]): Promise<string> {
  const rows = await db.transaction(async (query) => {
    await query("set local enable_seqscan = off");
    return query(`explain ${text}`, params);
  });
  return rows.map((row) => String(row["QUERY PLAN"])).join("\n");
}

describe.each(backends)("schema on $name", ({ open }) => {
  let db: Backend;
  let contributorId: string;

  beforeAll(async () => {
    db = await open();
    contributorId = await createUser(db, "contributor");
  }, 180_000);

  afterAll(async () => {
    await db?.close();
  });

  it("has the vector and pg_trgm extensions installed", async () => {
    const rows = await db.query("select extname from pg_extension where extname in ('vector', 'pg_trgm') order by extname");
    expect(rows.map((row) => row.extname)).toEqual(["pg_trgm", "vector"]);
  });

  it("generates orientation from width and height, and recomputes it on update", async () => {
    const landscape = await createImage(db, contributorId, { width: 1200, height: 800 });
    const portrait = await createImage(db, contributorId, { width: 800, height: 1200 });
    const square = await createImage(db, contributorId, { width: 500, height: 500 });
    const unknown = await createImage(db, contributorId, { width: 500 });
    const orientationOf = async (id: string) => (await db.query("select orientation from images where id = $1", [id]))[0]?.orientation;

    expect(await orientationOf(landscape)).toBe("landscape");
    expect(await orientationOf(portrait)).toBe("portrait");
    expect(await orientationOf(square)).toBe("square");
    expect(await orientationOf(unknown)).toBeNull();

    await db.query("update images set width = 600, height = 900 where id = $1", [landscape]);
    expect(await orientationOf(landscape)).toBe("portrait");
  });

  it("ranks a title match above a tag match above a description match", async () => {
    const inTitle = await createImage(db, contributorId, { title: "Lighthouse at dusk" });
    const inTags = await createImage(db, contributorId, { title: "Coast", tagText: "lighthouse rocks sea" });
    const inDescription = await createImage(db, contributorId, {
      title: "Rocky shore",
      description: "waves break below an old lighthouse",
    });
    const rows = await db.query(
      `select id, ts_rank(search_vector, q) as rank
       from images, websearch_to_tsquery('english', 'lighthouse') q
       where search_vector @@ q and id in ($1, $2, $3)
       order by rank desc`,
      [inTitle, inTags, inDescription],
    );
    expect(rows.map((row) => row.id)).toEqual([inTitle, inTags, inDescription]);
    expect(Number(rows[0]?.rank)).toBeGreaterThan(Number(rows[1]?.rank));
    expect(Number(rows[1]?.rank)).toBeGreaterThan(Number(rows[2]?.rank));
  });

  it("stems search words so 'running' is found by 'run'", async () => {
    const id = await createImage(db, contributorId, { title: "Dog running on the beach" });
    const rows = await db.query("select id from images where search_vector @@ websearch_to_tsquery('english', 'run') and id = $1", [id]);
    expect(rows).toEqual([{ id }]);
  });

  it("answers nearest-neighbour ORDER BY embedding::vector(512) <=> $1 from the model's partial HNSW index", async () => {
    const modelId = await createModel(db);
    const ids: string[] = [];
    for (let seed = 1; seed <= 12; seed++) ids.push(await createImage(db, contributorId, { embedding: embedding(seed), modelId }));
    const nearest = `select image_id as id from image_embeddings where model_id = ${modelId} order by embedding::vector(512) <=> $1::vector(512) limit 10`;

    const plan = await planWithoutSeqScan(db, nearest, [embedding(7)]);
    expect(plan).toContain(`image_embeddings_${modelId}_hnsw`);

    const rows = await db.transaction(async (query) => {
      await query("set local enable_seqscan = off");
      return query(nearest, [embedding(7)]);
    });
    expect(rows[0]?.id).toBe(ids[6]);
  });

  it("starts connections with pgvector's search defaults (migration 0006), so a filtered nearest-neighbour LIMIT is filled", async () => {
    const [settings] = await db.query("select current_setting('hnsw.ef_search') as ef, current_setting('hnsw.iterative_scan') as scan");
    expect(settings).toEqual({ ef: "100", scan: "relaxed_order" });

    // 150 images, one in ten passing the filter: the graph hands over ef_search (100) candidates,
    // about 10 of which pass, so a LIMIT of 14 is only filled by scanning on (iterative scan).
    const marker = `sparse ${randomUUID()}`;
    const modelId = await createModel(db);
    for (let i = 0; i < 150; i++) await createImage(db, contributorId, { title: i % 10 === 0 ? marker : "Untitled", embedding: embedding(1000 + i), modelId });
    // The form search uses (edge/services/catalogue/search-sql.ts): the model's rows joined to their images.
    const nearest = `select i.id from image_embeddings e join images i on i.id = e.image_id
      where e.model_id = ${modelId} and i.title = $2 order by e.embedding::vector(512) <=> $1::vector(512) limit 14`;
    const run = (extra: string) =>
      db.transaction(async (query) => {
        await query("set local enable_seqscan = off");
        if (extra) await query(extra);
        return query(nearest, [embedding(1005), marker]);
      });
    expect(await planWithoutSeqScan(db, nearest, [embedding(1005), marker])).toContain(`image_embeddings_${modelId}_hnsw`);
    expect(await run("")).toHaveLength(14);
    // Without the default the same scan stops short: the test would fail if 0006 set nothing.
    expect((await run("set local hnsw.iterative_scan = off")).length).toBeLessThan(14);
  });

  it("serves fuzzy tag look-ups (tag % 'ocen') from the trigram index", async () => {
    const imageId = await createImage(db, contributorId, { title: "Waves" });
    await db.query("insert into image_tags (image_id, tag, confidence, source) values ($1, 'ocean', 0.9, 'ai'), ($1, 'mountain', 0.4, 'ai')", [imageId]);
    // A vocabulary of a few thousand tags, vacuumed and analysed, so the plan is the one a real
    // catalogue gets: on a near-empty table a full scan of the primary key is cheaper than any index,
    // and until VACUUM merges GIN's pending list (fastupdate) the planner prices the index as a full scan.
    const vocabulary = await createImage(db, contributorId, { title: "Vocabulary" });
    await db.query("insert into image_tags (image_id, tag, source) select $1, md5(g::text), 'ai' from generate_series(1, 3000) g", [vocabulary]);
    await db.query("vacuum analyze image_tags");
    const fuzzy = "select image_id, tag from image_tags where tag % 'ocen'";

    expect(await planWithoutSeqScan(db, fuzzy)).toContain("image_tags_tag_trgm_idx");
    const matches = (await db.query(fuzzy)).filter((row) => row.image_id === imageId);
    expect(matches.map((row) => row.tag)).toEqual(["ocean"]);
  });

  it("keeps one jobs row per (image_id, job_type)", async () => {
    const imageId = await createImage(db, contributorId);
    await db.query("insert into jobs (image_id, job_type) values ($1, 'embed'), ($1, 'tag')", [imageId]);
    await expect(db.query("insert into jobs (image_id, job_type) values ($1, 'embed')", [imageId])).rejects.toMatchObject({
      code: "23505",
    });
  });

  it("records a webhook event once per (provider, event_id)", async () => {
    const eventId = `evt_${randomUUID()}`;
    const insert = "insert into processed_webhook_events (provider, event_id, event_type) values ($1, $2, 'checkout.session.completed')";
    await db.query(insert, ["stripe", eventId]);
    await expect(db.query(insert, ["stripe", eventId])).rejects.toMatchObject({ code: "23505" });
    await db.query(insert, ["other", eventId]);
  });

  it("refuses a second user with the same email", async () => {
    const email = `${randomUUID()}@example.test`;
    const insert = "insert into users (email, password_hash, display_name) values ($1, 'x', 'Someone')";
    await db.query(insert, [email]);
    await expect(db.query(insert, [email])).rejects.toMatchObject({ code: "23505" });
  });

  it("allows one marketplace default price per license type and currency (image_id null)", async () => {
    const currency = `t${randomUUID().slice(0, 6)}`;
    const insert = "insert into license_prices (image_id, license_type, currency, amount_cents) values (null, 'standard', $1, $2)";
    await db.query(insert, [currency, 1500]);
    await expect(db.query(insert, [currency, 1900])).rejects.toMatchObject({ code: "23505" });
  });

  it("refuses to delete a license, its image or its buyer while the license is referenced", async () => {
    const buyerId = await createUser(db);
    const imageId = await createImage(db, contributorId);
    const [order] = await db.query("insert into orders (buyer_id, status, total_cents) values ($1, 'paid', 1500) returning id", [buyerId]);
    const [item] = await db.query("insert into order_items (order_id, image_id, license_type, price_cents) values ($1, $2, 'standard', 1500) returning id", [order?.id, imageId]);
    const [license] = await db.query("insert into licenses (buyer_id, image_id, order_item_id, license_type, price_cents) values ($1, $2, $3, 'standard', 1500) returning id", [
      buyerId,
      imageId,
      item?.id,
    ]);
    await db.query(
      `insert into contributor_earnings (contributor_id, license_id, order_item_id, image_id, gross_cents, share_bps, amount_cents)
       values ($1, $2, $3, $4, 1500, 5000, 750)`,
      [contributorId, license?.id, item?.id, imageId],
    );

    await expect(db.query("delete from licenses where id = $1", [license?.id])).rejects.toMatchObject(RESTRICTED);
    await expect(db.query("delete from images where id = $1", [imageId])).rejects.toMatchObject(RESTRICTED);
    await expect(db.query("delete from users where id = $1", [buyerId])).rejects.toMatchObject(RESTRICTED);
    expect(await db.query("select id from licenses where id = $1", [license?.id])).toHaveLength(1);
  });
});
