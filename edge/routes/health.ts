import { Hono } from "hono";
import type { AppEnv } from "../env";
import { spec } from "../lib/route";
import { checkHealth, HealthSchema } from "../services/admin/health";

export const healthRoutes = new Hono<AppEnv>().get(
  "/health",
  spec({
    summary: "Each dependency's state: database, R2, queue, GPU worker, cache",
    tags: ["ops"],
    access: "public",
    responses: {
      200: { description: "Serving (status ok, or degraded when the worker or cache is down)", schema: HealthSchema },
      503: { description: "The database is down: nothing can be served", schema: HealthSchema },
    },
  }),
  async (c) => {
    const health = await checkHealth({ db: c.var.db, env: c.env, store: c.var.store });
    return c.json(health, health.status === "down" ? 503 : 200, { "cache-control": "no-store" });
  },
);
