import { app } from "./app";
import { createWorker } from "./worker";

/**
 * The production entry (wrangler.toml `main`): the Worker with nothing local in it. Development
 * runs edge/local.ts instead, which adds the stand-ins; nothing here imports edge/dev.
 */
export default createWorker({}, app);
