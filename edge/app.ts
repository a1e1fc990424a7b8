import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { ConfigError } from "./config";
import type { AppEnv, Runtime } from "./env";
import { allowedMethods } from "./lib/methods";
import { ApiError, problemResponse } from "./lib/problem";
import { requestBodyLimit } from "./middleware/body-limit";
import { apiCors } from "./middleware/cors";
import { requestContext } from "./middleware/request-context";
import { adminRoutes } from "./routes/admin";
import { apiKeyRoutes } from "./routes/api-keys";
import { authRoutes } from "./routes/auth";
import { cartRoutes } from "./routes/cart";
import { checkoutRoutes } from "./routes/checkout";
import { collectionRoutes, sharedCollectionRoutes } from "./routes/collections";
import { contributorRoutes } from "./routes/contributor";
import { derivativeRoutes } from "./routes/derivatives";
import { docsRoutesFor } from "./routes/docs";
import { healthRoutes } from "./routes/health";
import { imageRoutes } from "./routes/images";
import { licenseRoutes } from "./routes/licenses";
import { orderRoutes } from "./routes/orders";
import { payoutRoutes } from "./routes/payouts";
import { planRoutes } from "./routes/plans";
import { searchRoutes } from "./routes/search";
import { uploadRoutes } from "./routes/uploads";
import { webhookRoutes } from "./routes/webhooks";
import { errorPage, wantsHtml, webRoutes } from "./web/app";

/**
 * The HTTP API under /v1 and the web app beside it. Both entries build it: edge/index.ts (production) as it is, edge/local.ts with the
 * local stand-ins injected through `runtime`, so the production bundle holds no edge/dev code.
 */
export function createApp(runtime: Runtime = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use("*", requestId());
  app.use("*", secureHeaders({ crossOriginResourcePolicy: false }));

  // One structured log line per request, through the request's logger (requestContext sets it first thing).
  app.use("*", async (c, next) => {
    const started = Date.now();
    await next();
    const principal = c.get("principal");
    const fields = {
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status: c.res.status,
      durationMs: Date.now() - started,
      userId: principal?.userId ?? null,
      apiKeyId: principal?.kind === "api_key" ? principal.apiKeyId : null,
    };
    if (c.res.status >= 500) c.var.log.error("request", fields);
    else c.var.log.info("request", fields);
  });

  app.use("*", requestContext(runtime));
  // Browsers on other origins may call the API (CORS_ORIGINS); the pages are same-origin only.
  app.use("/v1/*", apiCors);

  // Bodies are small (JSON, forms), but for the pictures search by image takes (middleware/body-limit.ts).
  app.use("*", requestBodyLimit);

  app.route("/v1", healthRoutes);
  app.route("/v1/auth", authRoutes);
  app.route("/v1/api-keys", apiKeyRoutes);
  app.route("/v1/uploads", uploadRoutes);
  app.route("/v1/images", imageRoutes);
  app.route("/v1/search", searchRoutes);
  app.route("/v1/derivatives", derivativeRoutes);
  app.route("/v1/cart", cartRoutes);
  app.route("/v1/collections", collectionRoutes);
  app.route("/v1/shared/collections", sharedCollectionRoutes);
  app.route("/v1/checkout", checkoutRoutes);
  app.route("/v1/orders", orderRoutes);
  app.route("/v1", planRoutes);
  app.route("/v1/licenses", licenseRoutes);
  app.route("/v1/webhooks", webhookRoutes);
  app.route("/v1/contributor", contributorRoutes);
  app.route("/v1/admin/payouts", payoutRoutes);
  app.route("/v1/admin", adminRoutes);
  app.route(
    "/v1",
    docsRoutesFor(() => app.routes),
  );
  // The web app for people: everything outside /v1 (edge/web/app.tsx).
  app.route("/", webRoutes);

  app.notFound((c) => {
    if (!c.req.path.startsWith("/v1/") && wantsHtml(c)) return errorPage(c, new ApiError("not-found", "There is no page at this address."));
    const allowed = allowedMethods(app.routes, new URL(c.req.url).pathname);
    if (allowed.length > 0) {
      return problemResponse(c, new ApiError("method-not-allowed", `use ${allowed.join(", ")}`, { allowed }, { allow: allowed.join(", ") }));
    }
    return problemResponse(c, new ApiError("not-found", "no route matches this path"));
  });

  app.onError((error, c) => {
    if (error instanceof ApiError) return problemResponse(c, error);
    if (error instanceof HTTPException) {
      if (error.status === 400) return problemResponse(c, new ApiError("invalid-json", error.message));
      if (error.status === 413) return problemResponse(c, new ApiError("payload-too-large"));
    }
    const isConfig = error instanceof ConfigError;
    c.var.log.error(isConfig ? "configuration error" : "unhandled error", { error });
    return problemResponse(c, new ApiError(isConfig ? "service-unavailable" : "internal", isConfig ? "the service is misconfigured" : undefined));
  });

  return app;
}

/** The production app: edge/index.ts serves it; scripts/openapi.ts and the tests read its route table. */
export const app = createApp();
