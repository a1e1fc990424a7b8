/**
 * fetch for tests against a local server, retrying a GET or HEAD once or twice when the connection
 * fails before any response: Node's fetch reuses kept-alive sockets, and one the server has just
 * closed ("other side closed") fails the request though the server is fine. Only network errors
 * are retried, never an HTTP status, and never a request with a body.
 */
export async function fetchRetrying(input: string, init: RequestInit = {}): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(input, init);
    } catch (error) {
      if ((method !== "GET" && method !== "HEAD") || attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}
