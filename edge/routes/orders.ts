import { Hono } from "hono";
import type { AppEnv } from "../env";

/** A buyer's orders. */
export const orderRoutes = new Hono<AppEnv>();
