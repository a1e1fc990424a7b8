import { Hono } from "hono";
import type { AppEnv } from "../env";

/** Contributor payout runs (admin). */
export const payoutRoutes = new Hono<AppEnv>();
