import { createServer } from "node:http";
import { connect } from "node:net";
import { WebSocketServer } from "ws";
import { createSqlOverHttp } from "./sql-over-http";

/**
 * What stands in for Neon's proxy locally, on one port:
 * - the WebSocket-to-TCP proxy Neon documents for local development: the Neon serverless driver
 *   opens `ws://host/v1?address=pghost:pgport` and speaks the Postgres wire protocol inside
 *   binary frames; this pipes those frames to the TCP socket and back;
 * - Neon's SQL-over-HTTP endpoint, `POST /sql` (sql-over-http.ts), for one-shot statements.
 * Only loopback targets are allowed, so the proxy cannot be used to reach anything else.
 */
export async function startWsProxy(options: { port: number; host?: string }): Promise<{ port: number; close(): Promise<void> }> {
  const host = options.host ?? "127.0.0.1";
  const sqlOverHttp = createSqlOverHttp();
  const server = createServer((req, res) => {
    if (req.method === "POST" && req.url?.split("?")[0] === "/sql") return void sqlOverHttp.handle(req, res);
    res.writeHead(426, { "content-type": "text/plain" }).end("websocket or POST /sql only\n");
  });
  const wss = new WebSocketServer({ server, path: "/v1" });
  wss.on("connection", (ws, req) => {
    const address = new URL(req.url ?? "", "http://x").searchParams.get("address") ?? "";
    const [targetHost, targetPort] = address.split(":");
    if (!["127.0.0.1", "localhost", "::1"].includes(targetHost ?? "") || !targetPort) {
      ws.close(1008, "only loopback Postgres targets are proxied");
      return;
    }
    const tcp = connect({ host: targetHost, port: Number(targetPort) });
    tcp.setNoDelay(true);
    const pending: Buffer[] = [];
    let connected = false;
    tcp.on("connect", () => {
      connected = true;
      for (const chunk of pending.splice(0)) tcp.write(chunk);
    });
    const scanner = new TerminateScanner();
    ws.on("message", (data: Buffer) => {
      if (connected) tcp.write(data);
      else pending.push(data);
      // The Neon driver ends a connection with Terminate and waits for the server to hang up.
      // PostgreSQL does; PGlite's socket server does not, so the proxy hangs up for it.
      if (scanner.sawTerminate(data)) {
        tcp.end();
        ws.close();
      }
    });
    tcp.on("data", (data) => ws.send(data));
    tcp.on("close", () => ws.close());
    tcp.on("error", () => ws.close(1011, "postgres connection failed"));
    ws.on("close", () => tcp.destroy());
    ws.on("error", () => tcp.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, resolve);
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("proxy did not bind a TCP port");
  return {
    port: address.port,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Upgraded WebSocket sockets are not HTTP connections: end them explicitly.
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      return Promise.all([closed, sqlOverHttp.close()]).then(() => undefined);
    },
  };
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/**
 * Follows the framing of the frontend (client to server) Postgres protocol across chunks:
 * untyped startup-phase messages (SSLRequest, GSSENCRequest, StartupMessage), then typed
 * messages (1-byte type, int32 length). Reports when a Terminate ('X') message arrives.
 */
export class TerminateScanner {
  private header = Buffer.alloc(0);
  private skip = 0;
  private startup = true;

  sawTerminate(chunk: Buffer): boolean {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - offset);
        this.skip -= n;
        offset += n;
        continue;
      }
      const need = this.startup ? 8 : 5;
      const take = Math.min(need - this.header.length, chunk.length - offset);
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (this.header.length < need) break;
      if (this.startup) {
        const length = this.header.readInt32BE(0);
        const code = this.header.readInt32BE(4);
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) this.startup = false;
        this.skip = length - 8;
      } else {
        if (this.header[0] === 0x58) return true;
        this.skip = this.header.readInt32BE(1) - 4;
      }
      this.header = Buffer.alloc(0);
    }
    return false;
  }
}
