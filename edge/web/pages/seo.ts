import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { page } from "../page";

/** What crawlers read: robots.txt and sitemap.xml. */
export const seoRoutes = new Hono<AppEnv>().get("/robots.txt", page({ access: "public" }), (c) => c.text("User-agent: *\nDisallow: /account\n"));
