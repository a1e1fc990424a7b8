import type { IncomingMessage, ServerResponse } from "node:http";
import pg from "pg";

/**
 * The local stand-in for Neon's SQL-over-HTTP endpoint (`POST /sql`), which the Neon driver's
 * `neon()` function and drizzle's neon-http use: one statement (or one batch, as a transaction) per
 * request, on a connection the endpoint keeps open, so a query costs one HTTP round trip instead of
 * a WebSocket, a Postgres startup and a hang-up.
 *
 * The contract, as the driver (@neondatabase/serverless 1.2) speaks it:
 * - request headers `Neon-Connection-String` (the database), `Neon-Raw-Text-Output: true`,
 *   `Neon-Array-Mode: true|false`, and for batches `Neon-Batch-Isolation-Level`,
 *   `Neon-Batch-Read-Only`, `Neon-Batch-Deferrable`;
 * - body `{ query, params }` or `{ queries: [{ query, params }, ...] }`;
 * - 200 with `{ command, rowCount, rows, fields: [{ name, dataTypeID, ... }], rowAsArray }` (a batch:
 *   `{ results: [...] }`), every value as Postgres's text output, which the driver parses by
 *   `dataTypeID`;
 * - 400 with the Postgres error's fields (`message`, `code`, `detail`, ...) when a statement fails;
 *   any other status when the database cannot be reached.
 * Only loopback databases are served, like the WebSocket proxy.
 */
export function createSqlOverHttp() {
  const pools = new Map<string, pg.Pool>();
  const rawText = { getTypeParser: () => (value: string) => value };

  function poolFor(connectionString: string): pg.Pool {
    let pool = pools.get(connectionString);
    if (!pool) {
      let url: URL;
      try {
        url = new URL(connectionString);
      } catch {
        throw new HttpFailure(400, "Neon-Connection-String is not a connection URL");
      }
      if (!["127.0.0.1", "localhost", "::1"].includes(url.hostname.replace(/^\[|\]$/g, ""))) throw new HttpFailure(403, "only loopback Postgres targets are served");
      // `application_name` is the driver's own tag, which pg does not accept in the URL.
      url.searchParams.delete("application_name");
      pool = new pg.Pool({ connectionString: url.toString(), max: 10, application_name: "edgestock-sql-over-http" });
      // A connection that drops while idle is reported here; the pool has discarded it already.
      pool.on("error", () => undefined);
      pools.set(connectionString, pool);
    }
    return pool;
  }

  async function run(client: pg.PoolClient | pg.Pool, query: Statement, arrayMode: boolean) {
    const result = await client.query({ text: query.query, values: query.params ?? [], rowMode: "array", types: rawText });
    const fields = result.fields.map((f) => ({
      name: f.name,
      tableID: f.tableID,
      columnID: f.columnID,
      dataTypeID: f.dataTypeID,
      dataTypeSize: f.dataTypeSize,
      dataTypeModifier: f.dataTypeModifier,
      format: "text",
    }));
    const rows = arrayMode ? result.rows : (result.rows as unknown[][]).map((row) => Object.fromEntries(fields.map((f, i) => [f.name, row[i]])));
    return { command: result.command, rowCount: result.rowCount, rows, fields, rowAsArray: arrayMode };
  }

  async function answer(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const connectionString = req.headers["neon-connection-string"];
    if (typeof connectionString !== "string") throw new HttpFailure(400, "missing Neon-Connection-String header");
    const arrayMode = req.headers["neon-array-mode"] === "true";
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: { query?: string; params?: unknown[]; queries?: Statement[] };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      throw new HttpFailure(400, "the body is not JSON");
    }
    const pool = poolFor(connectionString);
    try {
      if (!body.queries) {
        if (typeof body.query !== "string") throw new HttpFailure(400, "the body has no query");
        return { status: 200, body: await run(pool, body as Statement, arrayMode) };
      }
      const client = await pool.connect();
      try {
        const isolation = req.headers["neon-batch-isolation-level"];
        const mode = [
          typeof isolation === "string" ? `isolation level ${isolation.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase()}` : "",
          req.headers["neon-batch-read-only"] === "true" ? "read only" : "",
          req.headers["neon-batch-deferrable"] === "true" ? "deferrable" : "",
        ].filter(Boolean);
        await client.query(`begin ${mode.join(", ")}`);
        const results = [];
        for (const query of body.queries) results.push(await run(client, query, arrayMode));
        await client.query("commit");
        return { status: 200, body: { results } };
      } catch (error) {
        await client.query("rollback").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    } catch (error) {
      if (error instanceof HttpFailure) throw error;
      const e = error as Record<string, unknown> & Error;
      // A Postgres error (it has an SQLSTATE) is the statement's fault: 400 with its fields.
      if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) && !/^(08|53|57)/.test(e.code)) {
        const fields = Object.fromEntries(ERROR_FIELDS.map((k) => [k, e[k]]).filter(([, v]) => v !== undefined));
        return { status: 400, body: { message: e.message, ...fields } };
      }
      throw new HttpFailure(502, `database unavailable: ${e.message}`);
    }
  }

  return {
    async handle(req: IncomingMessage, res: ServerResponse) {
      try {
        const { status, body } = await answer(req);
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      } catch (error) {
        const status = error instanceof HttpFailure ? error.status : 500;
        const message = error instanceof Error ? error.message : String(error);
        // The driver reads a 400's body as JSON and any other status's as text.
        if (status === 400) res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ message }));
        else res.writeHead(status, { "content-type": "text/plain" }).end(message);
      }
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.end().catch(() => undefined)));
      pools.clear();
    },
  };
}

type Statement = { query: string; params?: unknown[] };

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The fields of a Postgres error the driver copies onto its NeonDbError. */
const ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
];
