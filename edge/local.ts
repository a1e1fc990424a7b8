import { createApp } from "./app";
import { acceptLocalJobs } from "./dev/local-queue";
import { localFetch, localStandIns } from "./dev/routes";
import type { Runtime } from "./env";
import { QUEUES } from "./services/catalogue/uploads";
import { createWorker } from "./worker";

export { LocalPullQueue } from "./dev/local-queue";

/**
 * The local entry (wrangler.local.toml `main`, used by `npm start` and the edge tests): the
 * production Worker plus the stand-ins for what wrangler's local runtime lacks: R2's S3 API and
 * the Queues pull API under /_local (edge/dev/routes.ts), the S3 client calling the former
 * in-process, and the jobs queue consumed into the pull stand-in.
 */
const runtime: Runtime = {
  // In-process only when the endpoint is the stand-in: a local run against real R2 uses the network.
  s3Fetch: (config, env, ctx) => (config.ENVIRONMENT !== "production" && new URL(config.s3Endpoint).pathname.startsWith("/_local/s3") ? localFetch(env, ctx) : undefined),
};
const worker = createWorker(runtime, createApp(runtime));

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    if (new URL(request.url).pathname.startsWith("/_local/")) return localStandIns.fetch(request, env, ctx);
    return worker.fetch(request, env, ctx);
  },
  async queue(batch, env) {
    if (batch.queue === QUEUES.jobs) return acceptLocalJobs(batch, env);
    return worker.queue(batch, env);
  },
  scheduled: worker.scheduled,
} satisfies ExportedHandler<Env>;
