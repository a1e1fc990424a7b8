import { Hono } from "hono";
import type { AppEnv } from "../env";

/** Subscription plans and the caller's subscription. */
export const planRoutes = new Hono<AppEnv>();
