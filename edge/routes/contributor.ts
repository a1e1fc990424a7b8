import { Hono } from "hono";
import type { AppEnv } from "../env";

/** A contributor's portfolio, earnings and payouts. */
export const contributorRoutes = new Hono<AppEnv>();
