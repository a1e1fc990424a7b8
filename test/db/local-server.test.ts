import { Pool } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connectDatabase } from "../../db/connect";
import { type LocalDatabase, startLocalDatabase } from "../../db/local/server";

let local: LocalDatabase;
beforeAll(async () => {
  local = await startLocalDatabase({});
  connectDatabase(local.url, { localProxy: local.proxy, webSocket: WebSocket });
});
afterAll(() => local.stop());

describe("the embedded Postgres behind the Neon-driver proxy", () => {
  it("releases connections: more open/close cycles than the connection limit all succeed", async () => {
    // Every Worker request opens and ends its own pool; a leaked connection per request would
    // exhaust the server's 100 connections and fail every later request.
    for (let i = 0; i < 130; i++) {
      const pool = new Pool({ connectionString: local.url });
      expect((await pool.query("select $1::int as n", [i])).rows[0].n).toBe(i);
      await pool.end();
    }
  });

  it("keeps concurrent transactions apart and consistent", async () => {
    const pool = new Pool({ connectionString: local.url, max: 4 });
    await pool.query("create table if not exists counter (n int); truncate counter; insert into counter values (0)");
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const client = await pool.connect();
        try {
          await client.query("begin");
          const { rows } = await client.query("select n from counter for update");
          await client.query("update counter set n = $1", [rows[0].n + 1]);
          await client.query("commit");
        } finally {
          client.release();
        }
      }),
    );
    expect((await pool.query("select n from counter")).rows[0].n).toBe(8);
    await pool.end();
  });
});
