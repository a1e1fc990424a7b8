import { Hono } from "hono";
import type { AppEnv } from "../env";
import { readConfig } from "../config";
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

/** The stand-ins alone, for the edge's own S3 calls in development (a Worker cannot reach itself over the network in tests). */
const direct = new Hono<AppEnv>()
  .use("*", async (c, next) => {
    c.set("config", readConfig(c.env));
    c.set("principal", null);
    await next();
  })
  .route("/_local", localRoutes);
direct.onError((error, c) => (error instanceof ApiError ? problemResponse(c, error) : c.text(String(error), 500)));

export const localFetch =
  (env: Env, ctx?: ExecutionContext): typeof fetch =>
  (input, init) =>
    Promise.resolve(direct.fetch(new Request(input, init), env, ctx));
