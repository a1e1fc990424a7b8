import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { WebSocketServer } from "ws";

/**
 * The WebSocket-to-TCP proxy Neon documents for local development: the Neon serverless driver
 * opens `ws://host/v1?address=pghost:pgport` and speaks the Postgres wire protocol inside
 * binary frames; this pipes those frames to the TCP socket and back.
 * Only loopback targets are allowed, so the proxy cannot be used to reach anything else.
 */
export async function startWsProxy(options: { port: number; host?: string }): Promise<Server> {
  const host = options.host ?? "127.0.0.1";
  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("websocket only\n");
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
    ws.on("message", (data: Buffer) => (connected ? tcp.write(data) : pending.push(data)));
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
  return server;
}
