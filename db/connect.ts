import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";

export type ConnectOptions = {
  /**
   * `host:port` of a local WebSocket-to-Postgres proxy (db/local/ws-proxy.ts). Set only for
   * local development and tests; production talks to Neon's own WebSocket endpoint.
   */
  localProxy?: string;
  /** WebSocket class where the runtime has no global one (Node 20: the `ws` package). */
  webSocket?: unknown;
  /** Pool size; a Worker request needs few. */
  max?: number;
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
  }
  const pool = new Pool({ connectionString: url, max: options.max ?? 5 });
  // An idle connection that drops (Neon closing it, or the socket failing while the pool ends)
  // is reported on the pool; with no listener that error would be thrown and crash the isolate
  // or process. The pool has already discarded the client, and the next query opens a new one.
  pool.on("error", (error: Error) => {
    // Closing the pool after a request hangs up its sockets; errors from that are expected.
    if ((pool as unknown as { ending?: boolean }).ending) return;
    console.error(JSON.stringify({ level: "error", msg: "idle database connection failed", error: error.message }));
  });
  // No `schema`: Edgestock queries with the query builder and sql templates, not drizzle's
  // relational API, and handing drizzle the schema costs every request (a Worker builds its db per
  // request) a walk over every table and relation: about 7% of the search route's CPU.
  const db = drizzle({ client: pool });
  return { db, pool };
}

export type Database = ReturnType<typeof connectDatabase>["db"];

/** The handle inside `db.transaction(async (tx) => ...)`. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/** Either: for functions that may run inside or outside a transaction. */
export type Queryable = Database | Transaction;
