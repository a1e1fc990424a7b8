import { NeonDbError, neon } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connectDatabase } from "../../db/connect";
import { type LocalDatabase, startLocalDatabase } from "../../db/local/server";

/**
 * The local stand-in for Neon's SQL-over-HTTP endpoint (db/local/sql-over-http.ts), driven by the
 * Neon driver's own `neon()` client, as the Worker's `c.var.dbHttp` drives it: on the embedded
 * PGlite and, with TEST_DATABASE_URL, on a PostgreSQL server.
 */
const serverUrl = process.env.TEST_DATABASE_URL;
const backends = [{ name: "PGlite", serverUrl: undefined }, ...(serverUrl ? [{ name: "PostgreSQL server", serverUrl }] : [])];

describe.each(backends)("SQL over HTTP on $name", ({ serverUrl }) => {
  let local: LocalDatabase;
  let connection: ReturnType<typeof connectDatabase>;
  beforeAll(async () => {
    local = await startLocalDatabase(serverUrl ? { serverUrl } : {});
    connection = connectDatabase(local.url, { localProxy: local.proxy, webSocket: WebSocket });
  });
  afterAll(async () => {
    await connection.pool.end();
    await local.stop();
  });

  it("answers a statement with typed rows, as the driver parses them", async () => {
    const query = neon(local.url);
    const [row] = await query`select 42::int as n, 2.5::float8 as f, 'x'::text as t, null::text as nothing,
      '{1,2,3}'::int[] as list, '{"a":[1]}'::jsonb as doc, true as yes, ${"o'neil"}::text as param`;
    expect(row).toEqual({ n: 42, f: 2.5, t: "x", nothing: null, list: [1, 2, 3], doc: { a: [1] }, yes: true, param: "o'neil" });
  });

  it("parses rows the way drizzle's WebSocket db.execute does (dates stay text)", async () => {
    const statement = sql`select now()::timestamptz as at, '2026-01-02'::date as day, interval '2 days' as span,
      ${"{1,2}"}::int[] as ids, 7::bigint as big, '{"k":1}'::json as doc, ${"a b"} as words`;
    const overHttp = (await connection.dbHttp.execute(statement)).rows[0];
    const overSocket = (await connection.db.execute(statement)).rows[0];
    expect(typeof overHttp?.at).toBe("string");
    expect({ ...overHttp, at: null }).toEqual({ ...overSocket, at: null });
  });

  it("reports a failing statement with Postgres's error fields, and the next one still works", async () => {
    const query = neon(local.url);
    const error = await query`select * from no_such_table`.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NeonDbError);
    expect(error).toMatchObject({ code: "42P01", message: expect.stringContaining("no_such_table") });
    expect(await query`select 1 as one`).toEqual([{ one: 1 }]);
  });

  it("runs a batch as one transaction: all or nothing", async () => {
    const query = neon(local.url);
    await query`create table if not exists http_batch (n int primary key)`;
    await query`truncate http_batch`;
    const failed = await query.transaction([query`insert into http_batch values (1)`, query`insert into http_batch values (1)`]).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: "23505" });
    expect(await query`select count(*)::int as n from http_batch`).toEqual([{ n: 0 }]);
    const [, second] = await query.transaction([query`insert into http_batch values (1)`, query`select count(*)::int as n from http_batch`], { readOnly: false });
    expect(second).toEqual([{ n: 1 }]);
    const readOnly = await query.transaction([query`insert into http_batch values (2)`], { readOnly: true }).catch((e: unknown) => e);
    expect(readOnly).toMatchObject({ code: "25006" });
    await query`drop table http_batch`;
  });

  it("serves loopback databases only, and answers bad requests with 400", async () => {
    const post = (headers: Record<string, string>, body: string) => fetch(`http://${local.proxy}/sql`, { method: "POST", headers, body });
    const elsewhere = await post({ "Neon-Connection-String": "postgres://postgres@db.example.com:5432/postgres" }, JSON.stringify({ query: "select 1", params: [] }));
    expect(elsewhere.status).toBe(403);
    const noHeader = await post({}, JSON.stringify({ query: "select 1", params: [] }));
    expect(noHeader.status).toBe(400);
    expect(await noHeader.json()).toEqual({ message: "missing Neon-Connection-String header" });
    const notJson = await post({ "Neon-Connection-String": local.url }, "select 1");
    expect(notJson.status).toBe(400);
    const notUrl = await post({ "Neon-Connection-String": "not a url" }, JSON.stringify({ query: "select 1", params: [] }));
    expect(notUrl.status).toBe(400);
    expect(await notUrl.json()).toEqual({ message: "Neon-Connection-String is not a connection URL" });
  });

  it("a database that cannot be reached is a server error, which the driver reports without an SQLSTATE", async () => {
    const query = neon(local.url.replace(/:(\d+)\//, ":1/"));
    const error = await query`select 1`.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NeonDbError);
    expect((error as NeonDbError).code).toBeUndefined();
    expect((error as Error).message).toMatch(/HTTP status 502/);
  });
});
