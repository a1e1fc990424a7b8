import type { Hono } from "hono";
import { log } from "../common/log";
import { connectDatabase } from "../db/connect";
import { publicUrls } from "./adapters/public-urls";
import { r2Client } from "./adapters/r2";
import { readConfig } from "./config";
import type { AppEnv, Runtime } from "./env";
import { recordDeadLetter } from "./services/admin/dead-letters";
import { runMaintenance } from "./services/admin/maintenance";
import { handleUploadEvent, QUEUES } from "./services/catalogue/uploads";
import { PAYOUT_CRON, runPayouts } from "./services/commerce/payouts";

/**
 * The Worker: HTTP API (`app`, built by createApp with the same `runtime`), queue consumers and
 * cron triggers. edge/index.ts exports it as built for production; edge/local.ts builds it with
 * the local stand-ins and adds what only runs locally.
 */
export function createWorker(runtime: Runtime, app: Hono<AppEnv>) {
  return {
    fetch: app.fetch,

    /**
     * Two queues arrive here: R2 event notifications of the originals bucket (an upload finished)
     * and the jobs dead-letter queue. (The jobs queue itself is pulled by the GPU worker over HTTP;
     * locally edge/local.ts consumes it into the pull stand-in.)
     */
    async queue(batch: MessageBatch, env: Env): Promise<void> {
      const config = readConfig(env);
      const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined });
      // The same dependencies a request gets from the request context.
      const deps = { db, config, env, s3: r2Client(config, runtime.s3Fetch?.(config, env)), urls: publicUrls(config), log: log.child({ queue: batch.queue }) };
      try {
        for (const message of batch.messages) {
          if (batch.queue === QUEUES.uploads) await handleUploadEvent(deps, message.body);
          else await recordDeadLetter(db, message.body, `gave up after ${message.attempts} attempt(s) on ${batch.queue}`);
          message.ack();
        }
      } finally {
        await pool.end();
      }
    },

    async scheduled(controller: ScheduledController, env: Env): Promise<void> {
      const config = readConfig(env);
      const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined });
      try {
        // runPayouts logs its own report; a failure throws so the Cron Trigger shows it failed.
        if (controller.cron === PAYOUT_CRON) await runPayouts({ db, config, log }, { now: new Date(controller.scheduledTime) });
        else log.info("maintenance", await runMaintenance(db, env, config));
      } finally {
        await pool.end();
      }
    },
  } satisfies ExportedHandler<Env>;
}
