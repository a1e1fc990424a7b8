/**
 * What the search-bench scripts share about the database: the bench URL, a connection made the
 * project's way (the Neon driver through the local WebSocket proxy, db/local/server.ts), COPY FROM
 * STDIN on that driver, the corpus stamp kept on the database, and timing helpers.
 */
import type { Connection, PoolClient } from "@neondatabase/serverless";
import { PgDialect } from "drizzle-orm/pg-core";
import WebSocket from "ws";
import { connectDatabase } from "../../../db/connect";
import { startLocalDatabase } from "../../../db/local/server";
import { type CatalogueFacts, catalogueFactsFrom, catalogueProbeStatement } from "../../../edge/services/catalogue/search-sql";
import type { CorpusOptions } from "./corpus";

/** The CI cluster (scripts/ci/start-postgres.sh), in a database of its own. */
/**
 * The corpus's CLIP model (db/embedding-models.ts): load.ts registers it as embedding_models id 1, so
 * the raw statements below can name its partial index's predicate and cast as literals, as search does.
 */
export const BENCH_MODEL = { id: 1, model: "bench-synthetic", version: "1", dimensions: 512 } as const;
/** The corpus's vectors joined to their images, for raw statements that read `images` columns unqualified. */
export const BENCH_VECTORS = `image_embeddings join images on images.id = image_embeddings.image_id and image_embeddings.model_id = ${BENCH_MODEL.id}`;
/** The cosine distance to the query in parameter `$n`, in the form of the model's index. */
export const benchDistance = (n: number) => `embedding::vector(${BENCH_MODEL.dimensions}) <=> $${n}::vector(${BENCH_MODEL.dimensions})`;

export const DEFAULT_BENCH_URL = "postgres://postgres@127.0.0.1:5433/edgestock_bench";

export function benchDatabaseUrl(): string {
  return process.env.DATABASE_URL ?? DEFAULT_BENCH_URL;
}

/** Opens the proxy and a pool on `url`; `close()` ends both. */
export async function openBenchDatabase(url: string, max = 4) {
  const local = await startLocalDatabase({ serverUrl: url });
  const { db, pool } = connectDatabase(url, { localProxy: local.proxy, webSocket: WebSocket, max });
  return {
    db,
    pool,
    proxy: local.proxy,
    async close() {
      await pool.end();
      await local.stop();
    },
  };
}

/**
 * Throws unless a connection starts with migration 0006's pgvector defaults, which the route relies
 * on. Server connections opened before the migration (PgBouncer's pool) keep their old settings.
 */
export async function assertSearchDefaults(client: Pick<PoolClient, "query">): Promise<void> {
  const { rows } = await client.query<{ scan: string }>("select current_setting('hnsw.iterative_scan', true) as scan");
  if (rows[0]?.scan !== "relaxed_order") {
    throw new Error("this connection lacks migration 0006's pgvector defaults: migrate the database (npm start does), then restart PgBouncer");
  }
}

/**
 * The server settings that move search figures, as `name=value` in the server's own units
 * (current_setting: "1GB", not pg_settings' count of 8 kB pages), for the header of each report.
 * Read by name rather than from pg_settings, which hides pgvector's settings until the session has
 * loaded the extension (the database defaults of migration 0006 are set either way).
 */
export async function serverSettings(client: Pick<PoolClient, "query">): Promise<string> {
  const { rows } = await client.query<{ s: string }>(
    `select string_agg(name || '=' || coalesce(current_setting(name, true), '(unset)'), ', ' order by name) as s
     from unnest(array['shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather', 'effective_cache_size', 'random_page_cost', 'hnsw.ef_search', 'hnsw.iterative_scan']) as name`,
  );
  const versions = await client.query<{ pg: string; vector: string | null }>(
    "select current_setting('server_version') as pg, (select extversion from pg_extension where extname = 'vector') as vector",
  );
  return `PostgreSQL ${versions.rows[0]?.pg}, pgvector ${versions.rows[0]?.vector}; ${rows[0]?.s ?? ""}`;
}

/** The corpus a bench database holds, stamped by load.ts as the database's comment. */
export type CorpusStamp = CorpusOptions & { loadedAt: string };

export async function readCorpusStamp(client: Pick<PoolClient, "query">): Promise<CorpusStamp | null> {
  const { rows } = await client.query<{ comment: string | null }>("select shobj_description(oid, 'pg_database') as comment from pg_database where datname = current_database()");
  const comment = rows[0]?.comment;
  if (!comment?.startsWith("{")) return null;
  return JSON.parse(comment) as CorpusStamp;
}

/** The subset of node-postgres's wire connection that COPY FROM STDIN needs (present in the Neon driver, not in its types). */
type CopyConnection = Connection & {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
};

const hasCopy = (c: Connection): c is CopyConnection => typeof (c as Partial<CopyConnection>).sendCopyFromChunk === "function";

/**
 * `COPY ... FROM STDIN` through the Neon driver: a node-postgres "submittable" that answers the
 * server's CopyInResponse with `data` (in 1 MiB CopyData messages) and CopyDone. Resolves with
 * the row count. The driver has the protocol messages but no public COPY API.
 */
export function copyFrom(client: PoolClient, statement: string, data: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    let rows = 0;
    const submittable = {
      submit(connection: Connection) {
        connection.query(statement);
      },
      handleCopyInResponse(connection: Connection) {
        if (!hasCopy(connection)) {
          reject(new Error("this driver's connection cannot send CopyData"));
          return;
        }
        const bytes = Buffer.from(data, "utf8");
        for (let offset = 0; offset < bytes.length; offset += 1 << 20) connection.sendCopyFromChunk(bytes.subarray(offset, offset + (1 << 20)));
        connection.endCopyFrom();
      },
      handleCommandComplete(message: { text: string }) {
        rows = Number(message.text.split(" ").pop());
      },
      handleReadyForQuery() {
        resolvePromise(rows);
      },
      handleError(error: Error) {
        reject(error);
      },
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyData() {},
    };
    client.query(submittable);
  });
}

/** One field of COPY's text format: `\N` for null, backslash, tab and newlines escaped. */
export function copyField(value: string | number | boolean | bigint | null | undefined): string {
  if (value === null || value === undefined) return "\\N";
  const s = String(value);
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r") : s;
}

/** What the route reads about the catalogue once per isolate (RUM index, size, common lexemes), read the same way. */
export async function catalogueFacts(client: Pick<PoolClient, "query">): Promise<CatalogueFacts> {
  const { sql, params } = new PgDialect().sqlToQuery(catalogueProbeStatement());
  return catalogueFactsFrom((await client.query(sql, params)).rows[0]);
}

/** Share of `exact`'s ids that `other` holds too (1 when `exact` is empty). */
export function overlap(exact: string[], other: string[]): number {
  if (exact.length === 0) return 1;
  const got = new Set(other);
  return exact.filter((id) => got.has(id)).length / exact.length;
}

/** Nearest-rank percentile of a sample. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

export const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 1)} ms`;
export const seconds = (startMs: number) => (performance.now() - startMs) / 1000;

/** A corpus size as the figures files name it: 100k, 1m, 5m (docs/figures/search-<bench>-<size>.md). */
export function sizeLabel(size: number): string {
  return size >= 1_000_000 && size % 1_000_000 === 0 ? `${size / 1_000_000}m` : size % 1000 === 0 ? `${size / 1000}k` : String(size);
}

/**
 * The frame of the scripts that read a loaded corpus: one connection to the bench database
 * (DATABASE_URL) and its corpus stamp, closed when `body` ends.
 */
export async function withBenchCorpus(body: (client: PoolClient, stamp: CorpusStamp, url: string) => Promise<void>): Promise<void> {
  const url = benchDatabaseUrl();
  const bench = await openBenchDatabase(url, 1);
  const client = await bench.pool.connect();
  try {
    const stamp = await readCorpusStamp(client);
    if (!stamp) throw new Error(`${url} holds no loaded corpus: run scripts/bench/search/load.ts first`);
    await body(client, stamp, url);
  } finally {
    client.release();
    await bench.close();
  }
}
