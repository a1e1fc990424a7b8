import { Hono } from "hono";
import type { AppEnv } from "../env";

/** Checkout of the cart and of subscription plans. */
export const checkoutRoutes = new Hono<AppEnv>();
