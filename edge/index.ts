import { connectDatabase } from "../db/connect";
import { app } from "./app";
import { readConfig } from "./config";
import { recordDeadLetter } from "./services/dead-letters";
import { runMaintenance } from "./services/maintenance";

/** The Worker: HTTP API, dead-letter queue consumer, and cron triggers. */
export default {
  fetch: app.fetch,

  async queue(batch, env) {
    const config = readConfig(env);
    const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined });
    try {
      for (const message of batch.messages) {
        await recordDeadLetter(db, message.body, `gave up after ${message.attempts} attempt(s) on ${batch.queue}`);
        message.ack();
      }
    } finally {
      await pool.end();
    }
  },

  async scheduled(_controller, env) {
    const config = readConfig(env);
    const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined });
    try {
      console.log(JSON.stringify({ level: "info", msg: "maintenance", ...(await runMaintenance(db)) }));
    } finally {
      await pool.end();
    }
  },
} satisfies ExportedHandler<Env>;
