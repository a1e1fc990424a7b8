import type { Database, HttpDatabase } from "../db/connect";
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
    /** The same database over Neon's HTTP endpoint, for hot reads that are one statement. */
    dbHttp: HttpDatabase;
    /** Who is calling; null when anonymous. Set by the access middleware. */
    principal: Principal | null;
  };
};
