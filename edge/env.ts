import type { Database } from "../db/connect";
import type { Config } from "./config";
import type { Principal } from "./lib/principal";

/** The one Hono environment type every sub-app and middleware uses. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    /** Opened lazily on first use, closed after the response. */
    db: Database;
    /** Who is calling; null when anonymous. Set by the access middleware. */
    principal: Principal | null;
  };
};
