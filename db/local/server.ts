import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { openEmbeddedPostgres } from "./pglite";
import { startWsProxy } from "./ws-proxy";

export type LocalDatabase = {
  /** Postgres URL the Neon driver connects to (through the proxy). */
  url: string;
  /** `host:port` of the proxy (WebSocket, and `POST /sql` for Neon's HTTP queries), for `connectDatabase(url, { localProxy })`. */
  proxy: string;
  stop(): Promise<void>;
};

/**
 * Starts what stands in for Neon locally: the embedded Postgres (PGlite with pgvector and
 * pg_trgm, migrated, persisted under `dataDir`, or in memory when it is undefined) served on
 * a loopback TCP port, plus the proxy the Neon driver uses (WebSocket and SQL over HTTP). With `serverUrl` (a real
 * local PostgreSQL server) only the proxy is started and the embedded database is skipped.
 */
export async function startLocalDatabase(options: { dataDir?: string; serverUrl?: string; pgPort?: number; proxyPort?: number }): Promise<LocalDatabase> {
  const stops: Array<() => Promise<void>> = [];
  let url = options.serverUrl;
  if (!url) {
    const { client } = await openEmbeddedPostgres(options.dataDir);
    // Every Worker request opens its own connection; PGlite runs one query at a time and the
    // socket server queues them, so allow plenty of concurrent connections.
    const socketServer = new PGLiteSocketServer({ db: keepQueryCyclesTogether(client), host: "127.0.0.1", port: options.pgPort ?? 0, maxConnections: 100 });
    await socketServer.start();
    const conn = socketServer.getServerConn();
    url = `postgres://postgres:postgres@${conn}/postgres`;
    stops.push(async () => {
      await socketServer.stop();
      await client.close();
    });
  }
  const proxy = await startWsProxy({ port: options.proxyPort ?? 0 });
  stops.unshift(() => proxy.close());
  return {
    url,
    proxy: `127.0.0.1:${proxy.port}`,
    async stop() {
      for (const stop of stops) await stop();
    },
  };
}

/** Frontend messages that end a unit of work: Sync, a simple Query, Terminate. */
const CYCLE_END = new Set(["S", "Q", "X"].map((c) => c.charCodeAt(0)));

/**
 * The socket server runs every connection's protocol messages one at a time on the one PGlite
 * session, keeping a connection's messages together only inside a transaction (it asks
 * `isInTransaction()`). Between transactions two connections' Parse/Bind/Execute interleave and
 * one runs the other's statement ("bind message supplies 2 parameters, but prepared statement
 * requires 6", or another query's rows). This reports an open extended-query cycle, from its
 * first message to its Sync, as a transaction too. Relies on @electric-sql/pglite-socket 0.2's
 * queue; the startup message (first byte 0) opens nothing.
 */
function keepQueryCyclesTogether(client: PGlite): PGlite {
  let cycleOpen = false;
  return new Proxy(client, {
    get(target, property) {
      if (property === "isInTransaction") return () => cycleOpen || target.isInTransaction();
      if (property === "execProtocolRawStream") {
        return (...args: Parameters<PGlite["execProtocolRawStream"]>) => {
          const type = args[0][0] ?? 0;
          cycleOpen = type !== 0 && !CYCLE_END.has(type);
          return target.execProtocolRawStream(...args);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
