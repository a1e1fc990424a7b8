import type { Server } from "node:http";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { openEmbeddedPostgres } from "./pglite";
import { startWsProxy } from "./ws-proxy";

export type LocalDatabase = {
  /** Postgres URL the Neon driver connects to (through the proxy). */
  url: string;
  /** `host:port` of the WebSocket proxy, for `connectDatabase(url, { localProxy })`. */
  proxy: string;
  stop(): Promise<void>;
};

/**
 * Starts what stands in for Neon locally: the embedded Postgres (PGlite with pgvector and
 * pg_trgm, migrated, persisted under `dataDir`, or in memory when it is undefined) served on
 * a loopback TCP port, plus the WebSocket proxy the Neon driver uses. With `serverUrl` (a real
 * local PostgreSQL server) only the proxy is started and the embedded database is skipped.
 */
export async function startLocalDatabase(options: {
  dataDir?: string;
  serverUrl?: string;
  pgPort?: number;
  proxyPort?: number;
}): Promise<LocalDatabase> {
  const stops: Array<() => Promise<void>> = [];
  let url = options.serverUrl;
  if (!url) {
    const { client } = await openEmbeddedPostgres(options.dataDir);
    // Every Worker request opens its own connection; PGlite runs one query at a time and the
    // socket server queues them, so allow plenty of concurrent connections.
    const socketServer = new PGLiteSocketServer({ db: client, host: "127.0.0.1", port: options.pgPort ?? 0, maxConnections: 100 });
    await socketServer.start();
    const conn = socketServer.getServerConn();
    url = `postgres://postgres:postgres@${conn}/postgres`;
    stops.push(async () => {
      await socketServer.stop();
      await client.close();
    });
  }
  const proxyServer = await startWsProxy({ port: options.proxyPort ?? 0 });
  const address = proxyServer.address();
  if (!address || typeof address === "string") throw new Error("proxy did not bind a TCP port");
  stops.unshift(() => closeServer(proxyServer));
  return {
    url,
    proxy: `127.0.0.1:${address.port}`,
    async stop() {
      for (const stop of stops) await stop();
    },
  };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
