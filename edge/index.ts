import { connectDatabase } from "../db/connect";
import { app } from "./app";
import { readConfig } from "./config";
import { acceptLocalJobs } from "./dev/local-queue";
import { recordDeadLetter } from "./services/admin/dead-letters";
import { handleUploadEvent, QUEUES } from "./services/catalogue/uploads";
import { runMaintenance } from "./services/admin/maintenance";
import { PAYOUT_CRON, runPayouts } from "./services/commerce/payouts";

export { LocalPullQueue } from "./dev/local-queue";

/** The Worker: HTTP API, queue consumers, and cron triggers. */
export default {
  fetch: app.fetch,

  /**
   * Three queues arrive here: R2 event notifications of the originals bucket (an upload finished),
   * the jobs dead-letter queue, and, in local development only, the jobs queue itself (handed to
   * the pull-consumer stand-in; in production the GPU worker pulls it over HTTP).
   */
  async queue(batch, env) {
    if (batch.queue === QUEUES.jobs) return acceptLocalJobs(batch, env);
    const config = readConfig(env);
    const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined });
    try {
      for (const message of batch.messages) {
        if (batch.queue === QUEUES.uploads) await handleUploadEvent({ db, config, env }, message.body);
        else await recordDeadLetter(db, message.body, `gave up after ${message.attempts} attempt(s) on ${batch.queue}`);
        message.ack();
      }
    } finally {
      await pool.end();
    }
  },

  async scheduled(controller, env) {
    const config = readConfig(env);
    const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined });
    try {
      // runPayouts logs its own report; a failure throws so the Cron Trigger shows it failed.
      if (controller.cron === PAYOUT_CRON) await runPayouts({ db, config }, { now: new Date(controller.scheduledTime) });
      else console.log(JSON.stringify({ level: "info", msg: "maintenance", ...(await runMaintenance(db, env, config)) }));
    } finally {
      await pool.end();
    }
  },
} satisfies ExportedHandler<Env>;
