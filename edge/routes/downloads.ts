import { Hono } from "hono";
import type { AppEnv } from "../env";

/** Signed downloads of originals for licensed buyers. */
export const downloadRoutes = new Hono<AppEnv>();
