import { Hono } from "hono";
import type { AppEnv } from "../env";

/** The buyer's cart. */
export const cartRoutes = new Hono<AppEnv>();
