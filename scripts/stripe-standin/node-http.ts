import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** A fetch-style handler: Hono's `app.fetch`. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

async function toRequest(incoming: IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
  }
  const method = incoming.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(new URL(incoming.url ?? "/", `http://${incoming.headers.host ?? "localhost"}`).href, {
    method,
    headers,
    body: hasBody ? new Uint8Array(Buffer.concat(chunks)) : undefined,
  });
}

async function answer(handle: FetchHandler, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
  try {
    const response = await handle(await toRequest(incoming));
    const body = new Uint8Array(await response.arrayBuffer());
    outgoing.statusCode = response.status;
    response.headers.forEach((value, name) => outgoing.setHeader(name, value));
    outgoing.end(body);
  } catch (error) {
    console.error("[stripe-standin] request failed:", error);
    outgoing.statusCode = 500;
    outgoing.end();
  }
}

/**
 * A node:http server (Node and Bun both provide it) that hands each request to a fetch-style
 * handler: the request body is read whole, which is fine for the small form bodies Stripe uses.
 */
export function serveFetch(handle: FetchHandler): Server {
  return createServer((incoming, outgoing) => void answer(handle, incoming, outgoing));
}

/** Listens on `host:port` (port 0: a free one) and resolves with the port taken. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      if (typeof address === "object" && address) resolve(address.port);
      else reject(new Error("the server has no port"));
    });
  });
}

/** Stops accepting connections and closes the open ones (the SDK keeps connections alive). */
export function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections?.();
  });
}
