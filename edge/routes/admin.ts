import { Hono } from "hono";
import type { AppEnv } from "../env";

/** Admin moderation, takedowns, prices and the audit log. */
export const adminRoutes = new Hono<AppEnv>();
