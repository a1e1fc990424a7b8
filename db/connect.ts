import { neon, neonConfig, Pool, types } from "@neondatabase/serverless";
import type { SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/neon-serverless";
import { PgDialect } from "drizzle-orm/pg-core";
import { log } from "../common/log";

export type ConnectOptions = {
  /**
   * `host:port` of the local stand-in for Neon's proxy (db/local/ws-proxy.ts: WebSocket, and HTTP
   * `/sql`). Set only for local development and tests; production talks to Neon's own endpoints.
   */
  localProxy?: string;
  /** WebSocket class where the runtime has no global one (Node 20: the `ws` package). */
  webSocket?: unknown;
  /** Pool size; a Worker request needs few. */
  max?: number;
  /**
   * A read replica's connection string (Neon: a read replica compute of the same branch). Only
   * `dbRead` uses it; unset, `dbRead` is the primary's HTTP path.
   */
  readUrl?: string;
};

/**
 * The one way Edgestock opens Postgres: the Neon serverless driver (WebSocket, interactive
 * transactions) under drizzle. The same code runs against Neon in production and against the
 * embedded PGlite or a local server through the proxy.
 */
export function connectDatabase(url: string, options: ConnectOptions = {}) {
  if (options.webSocket) neonConfig.webSocketConstructor = options.webSocket as typeof WebSocket;
  if (options.localProxy) {
    const proxy = options.localProxy;
    neonConfig.wsProxy = (host, port) => `${proxy}/v1?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
    neonConfig.fetchEndpoint = () => `http://${proxy}/sql`;
  }
  const pool = new Pool({ connectionString: url, max: options.max ?? 5 });
  // An idle connection that drops (Neon closing it, or the socket failing while the pool ends)
  // is reported on the pool; with no listener that error would be thrown and crash the isolate
  // or process. The pool has already discarded the client, and the next query opens a new one.
  pool.on("error", (error: Error) => {
    // Closing the pool after a request hangs up its sockets; errors from that are expected.
    if ((pool as unknown as { ending?: boolean }).ending) return;
    log.error("idle database connection failed", { error: error.message });
  });
  // No `schema`: Edgestock queries with the query builder and sql templates, not drizzle's
  // relational API, and handing drizzle the schema costs every request (a Worker builds its db per
  // request) a walk over every table and relation: about 7% of the search route's CPU.
  const db = drizzle({ client: pool });
  const dbHttp = httpDatabase(url);
  return { db, pool, dbHttp, dbRead: options.readUrl ? httpDatabase(options.readUrl) : dbHttp };
}

export type Database = ReturnType<typeof connectDatabase>["db"];

/**
 * One statement per HTTP request to Neon's SQL-over-HTTP endpoint (locally db/local/sql-over-http.ts):
 * a single round trip, with no WebSocket, Postgres startup or hang-up around it, so the way for a hot
 * read that is one statement (search). No session: no transactions, no `SET`; the database's
 * defaults apply (migration 0006). Rows parse as drizzle's neon-serverless `db.execute` parses them.
 */
export type HttpDatabase = { execute<T extends Record<string, unknown>>(statement: SQL): Promise<{ rows: T[] }> };

const dialect = new PgDialect();
/** Dates, times and intervals (and their arrays) stay text, as drizzle's neon drivers leave them. */
const TEXT_TYPES = new Set([types.builtins.TIMESTAMPTZ, types.builtins.TIMESTAMP, types.builtins.DATE, types.builtins.INTERVAL, 1115, 1182, 1185, 1187, 1231]);
const drizzleTypes = {
  getTypeParser: (id: number, format?: "text" | "binary") => (TEXT_TYPES.has(id) ? (value: string) => value : types.getTypeParser(id, format)),
};

function httpDatabase(url: string): HttpDatabase {
  const query = neon(url, { fullResults: true });
  return {
    async execute<T extends Record<string, unknown>>(statement: SQL) {
      const { sql: text, params } = dialect.sqlToQuery(statement);
      const result = await query.query(text, params, { fullResults: true, types: drizzleTypes });
      return { rows: result.rows as T[] };
    },
  };
}

/** The handle inside `db.transaction(async (tx) => ...)`. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/** Either: for functions that may run inside or outside a transaction. */
export type Queryable = Database | Transaction;
