/**
 * A local stand-in for the Stripe API: the endpoints the edge API uses, on Stripe's documented
 * request/response contract, plus dev controls that play the customer (checkout, bank transfers,
 * disputes), the billing clock (renewals) and Connect account holders (onboarding). Events are
 * signed with the webhook secret and, when a webhook URL is given, delivered there.
 * Runs on node:http, so under Node and Bun alike.
 */
import { Hono } from "hono";
import { stripeApiRoutes } from "./api";
import { devControlRoutes } from "./controls";
import { createAnnouncer } from "./events";
import { close, listen, serveFetch } from "./node-http";
import { renderError, renderNotFound, type StandinContext } from "./request";
import { loadState, type StoredEvent, saveState } from "./state";

export type { AnnouncedEvent, Delivery } from "./events";
export type { StoredEvent } from "./state";

export type StripeStandinOptions = {
  /** Port to listen on; 0 (the default) takes a free one. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** The webhook endpoint's signing secret (`whsec_…`) every event is signed with. */
  webhookSecret: string;
  /** Where to POST each event; without it events are only signed and returned. */
  webhookUrl?: string;
  /** The only secret key accepted; without it any `sk_test_…` key is. */
  apiKey?: string;
  /** A JSON file the state is read from at start and written to after each change, so restarts keep it. */
  statePath?: string;
};

export type StripeStandin = {
  /** Base URL, e.g. `http://127.0.0.1:12111` (the SDK's host, port and protocol point here). */
  url: string;
  port: number;
  /** Stops listening, after the webhook deliveries under way have finished. */
  stop(): Promise<void>;
  /** Every event so far, oldest first (live: it grows as events happen). */
  events: StoredEvent[];
};

/** How the server's own address is written in URLs: a wildcard host is reached on loopback. */
function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * Starts the Stripe stand-in and resolves once it listens.
 * @example
 * const standin = await startStripeStandin({ webhookSecret: "whsec_test", webhookUrl: "http://127.0.0.1:8787/webhooks/stripe" });
 * const stripe = new Stripe("sk_test_x", { host: "127.0.0.1", port: standin.port, protocol: "http" });
 */
export async function startStripeStandin(options: StripeStandinOptions): Promise<StripeStandin> {
  const host = options.host ?? "127.0.0.1";
  const { statePath } = options;
  const state = loadState(statePath);
  let baseUrl = "";
  const ctx: StandinContext = {
    state,
    baseUrl: () => baseUrl,
    announcer: createAnnouncer(options.webhookSecret, options.webhookUrl),
    persist: () => {
      if (statePath) saveState(statePath, state);
    },
  };

  const app = new Hono();
  app.onError(renderError);
  app.notFound(renderNotFound);
  app.use("*", async (c, next) => {
    await next();
    if (c.req.method !== "GET" && c.req.method !== "HEAD") ctx.persist();
  });
  app.route("/v1", stripeApiRoutes(ctx, options.apiKey));
  app.route("/", devControlRoutes(ctx));

  const server = serveFetch(app.fetch);
  const port = await listen(server, options.port ?? 0, host);
  baseUrl = `http://${urlHost(host)}:${port}`;
  return {
    url: baseUrl,
    port,
    events: state.events,
    stop: async () => {
      await ctx.announcer.settled();
      await close(server);
    },
  };
}
