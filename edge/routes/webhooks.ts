import { Hono } from "hono";
import type { AppEnv } from "../env";

/** Stripe webhooks. */
export const webhookRoutes = new Hono<AppEnv>();
