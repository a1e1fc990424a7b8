import { connectDatabase } from "../db/connect";
import { readWorkerConfig } from "./config";
import { beat } from "./heartbeat";

/**
 * The GPU worker process (`bun run worker`). Today it validates its configuration, connects to
 * Postgres the same way the edge does and reports liveness; job handlers (image pipeline, CLIP,
 * NSFW) arrive with the pipeline and ML issues. First SIGTERM/SIGINT stops cleanly; a second forces.
 */
const log = (level: string, msg: string, extra: Record<string, unknown> = {}) => console.log(JSON.stringify({ level, msg, ...extra }));

let config: ReturnType<typeof readWorkerConfig>;
try {
  config = readWorkerConfig(process.env);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined, max: 2 });
const capabilities = { jobTypes: [] as string[] };
const controller = new AbortController();
let stopping = false;

function stop(signal: string) {
  if (stopping) {
    log("warn", "second signal: exiting now", { signal });
    process.exit(1);
  }
  stopping = true;
  log("info", "stopping", { signal });
  controller.abort();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));

log("info", "worker started", { workerId: config.WORKER_ID });
while (!controller.signal.aborted) {
  try {
    await beat(db, config.WORKER_ID, capabilities);
  } catch (error) {
    log("error", "heartbeat failed", { error: (error as Error).message });
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, config.HEARTBEAT_INTERVAL_MS);
    controller.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
await pool.end();
log("info", "worker stopped");
process.exit(0);
