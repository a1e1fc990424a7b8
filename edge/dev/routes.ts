import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { log } from "../../common/log";
import { readConfig } from "../config";
import type { AppEnv } from "../env";
import { ApiError, problemResponse } from "../lib/problem";
import { localQueues } from "./local-queue";
import { localS3 } from "./s3";

/**
 * Local stand-ins for the Cloudflare HTTP APIs wrangler's local runtime lacks: R2's S3 API
 * (presigned uploads and downloads, multipart) and the Queues pull-consumer API. They answer only
 * outside production; the code that talks to them (common/s3.ts, gpu-worker/queue-client.ts) is
 * the code that talks to Cloudflare in production.
 */
export const localRoutes = new Hono<AppEnv>();

localRoutes.use("*", async (c, next) => {
  if (c.var.config.ENVIRONMENT === "production") throw new ApiError("not-found", "no route matches this path");
  await next();
});
localRoutes.route("/s3", localS3);
localRoutes.route("/queues", localQueues);

/**
 * The stand-ins as their own app under /_local, served by edge/local.ts beside the API. They need
 * the configuration only (no database, no caller), and take bodies beyond the API's JSON limit
 * (uploads of up to 200 MB), so they skip the API's middleware.
 */
export const localStandIns = new Hono<AppEnv>()
  .use("*", requestId())
  .use("*", async (c, next) => {
    c.set("config", readConfig(c.env));
    c.set("principal", null);
    c.set("log", log.child({ requestId: c.get("requestId") }));
    await next();
  })
  .route("/_local", localRoutes);
localStandIns.notFound((c) => problemResponse(c, new ApiError("not-found", "no route matches this path")));
localStandIns.onError((error, c) => {
  if (error instanceof ApiError) return problemResponse(c, error);
  (c.var.log ?? log).error("local stand-in error", { error, path: new URL(c.req.url).pathname });
  return problemResponse(c, new ApiError("internal"));
});

/** A fetch that calls the stand-ins in-process (a Worker cannot reach itself over the network in tests). */
export const localFetch =
  (env: Env, ctx?: ExecutionContext): typeof fetch =>
  (input, init) =>
    Promise.resolve(localStandIns.fetch(new Request(input, init), env, ctx));
