import { Hono } from "hono";
import type { AppEnv } from "../env";

/** A buyer's licenses and their certificates. */
export const licenseRoutes = new Hono<AppEnv>();
