import type { Context, HonoRequest } from "hono";
import { StripeApiError } from "./errors";
import type { Announcer } from "./events";
import { type Params, parseStripeForm } from "./form";
import type { StandinState } from "./state";

/** What every route of the stand-in works with. */
export type StandinContext = {
  state: StandinState;
  /** This server's own address, e.g. `http://127.0.0.1:12111` (known once it listens). */
  baseUrl(): string;
  announcer: Announcer;
  /** Writes the state to disk now, when the stand-in keeps state across restarts. */
  persist(): void;
};

function parseBody(text: string, contentType: string): Params {
  if (!contentType.includes("application/json")) return parseStripeForm(text);
  const parsed: unknown = text ? JSON.parse(text) : {};
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("the JSON body is not an object");
  return parsed as Params;
}

/**
 * The request's parameters: the query string, then the body over it (Stripe's form encoding,
 * or JSON for the dev controls). A body that cannot be parsed is a 400.
 */
export async function requestParams(request: HonoRequest): Promise<Params> {
  try {
    const query = parseStripeForm(new URL(request.url).search.slice(1));
    if (request.method === "GET" || request.method === "HEAD") return query;
    return { ...query, ...parseBody(await request.text(), request.header("content-type") ?? "") };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StripeApiError(400, "invalid_request_error", `Invalid request body: ${reason}`);
  }
}

/** Whether the client would rather have HTML than JSON (a browser posting a form does; fetch and the SDK do not). */
export function prefersHtml(accept: string | undefined): boolean {
  const html = accept?.indexOf("text/html") ?? -1;
  if (html === -1) return false;
  const json = accept?.indexOf("application/json") ?? -1;
  return json === -1 || html < json;
}

/** Renders an error the way Stripe does; anything unexpected is a 500 `api_error` (and logged). */
export function renderError(error: Error, c: Context): Response {
  if (error instanceof StripeApiError) return c.json(error.body(), error.status);
  console.error("[stripe-standin]", error);
  return c.json({ error: { type: "api_error", message: "The Stripe stand-in failed on this request; see its log." } }, 500);
}

/** Stripe's answer to a path it does not serve. */
export function renderNotFound(c: Context): Response {
  return c.json({ error: { type: "invalid_request_error", message: `Unrecognized request URL (${c.req.method}: ${c.req.path}).` } }, 404);
}
