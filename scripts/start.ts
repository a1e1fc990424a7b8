/**
 * `npm start`: the whole product on loopback with nothing but the clone.
 *   1. Postgres: the embedded PGlite (pgvector, pg_trgm) persisted under .data/pglite and migrated,
 *      or the server in DATABASE_URL; either way behind the proxy the Neon driver uses (WebSocket, HTTP /sql).
 *   2. The edge API in workerd (scripts/edge-dev.mjs: `wrangler dev` through wrangler's API, with the
 *      inspector off; local R2/Queues, state under .data/wrangler; its secrets in .data/dev.vars).
 *   3. The GPU worker (`bun gpu-worker/main.ts`).
 *   4. Without STRIPE_SECRET_KEY, the Stripe stand-in (scripts/stripe-standin) on STRIPE_STANDIN_PORT or a free port.
 * Prints the URL; Ctrl-C (or SIGTERM) stops every process it started.
 * Env: PORT (8787), EDGESTOCK_DATA_DIR (.data), EDGESTOCK_WORKER=0 (no worker), EMBED_PORT (free port), DATABASE_URL (a local PostgreSQL server instead of
 * the embedded one), EDGESTOCK_INSPECTOR_PORT and EDGESTOCK_EDGE=bundle (scripts/edge-dev.mjs), and any edge secret (UPSTASH_*, STRIPE_*, R2_*) to pass through to the Worker.
 */

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { migrate } from "drizzle-orm/neon-serverless/migrator";
import { connectDatabase } from "../db/connect";
import { startLocalDatabase } from "../db/local/server";
import { MIGRATIONS_FOLDER } from "../db/migrations-folder";
import { generateJwtKeyPair } from "./lib/dev-keys";
import { freePort } from "./lib/free-port";
import { writeLocalWranglerConfig } from "./lib/local-wrangler";
import { type StripeStandin, startStripeStandin } from "./stripe-standin/server";

const root = resolve(import.meta.dir, "..");
const dataDir = resolve(root, process.env.EDGESTOCK_DATA_DIR ?? ".data");
const port = Number(process.env.PORT ?? 8787);
const PASS_THROUGH = [
  "STRIPE_SECRET_KEY",
  "STRIPE_WEBHOOK_SECRET",
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
  "R2_ACCOUNT_ID",
  "R2_ACCESS_KEY_ID",
  "R2_SECRET_ACCESS_KEY",
  // Behind a proxy that sets CF-Connecting-IP for its clients (the search benchmark's, scripts/bench/search/api.ts).
  "TRUST_CF_CONNECTING_IP",
];
const GENERATED_SECRETS_HEADER = "# Written by npm start; regenerated on every start. Do not edit: set variables in your shell instead.";
const quietWrangler = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };

const say = (msg: string) => {
  try {
    console.log(`[start] ${msg}`);
  } catch {
    // stdout is gone (the terminal or the parent closed it): stopping must go on regardless.
  }
};
mkdirSync(dataDir, { recursive: true });

/** Development secrets, generated once per data folder and kept there (never used in production). */
function devSecrets(): Record<string, string> {
  const file = join(dataDir, "dev-secrets.json");
  const secrets: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : generateJwtKeyPair();
  const random = () => randomBytes(24).toString("base64url");
  // Added one by one so a data folder from an older version gains the newer secrets.
  const wanted = {
    WORKER_SHARED_SECRET: random,
    R2_ACCESS_KEY_ID: () => `local${randomBytes(8).toString("hex")}`,
    R2_SECRET_ACCESS_KEY: random,
    LOCAL_QUEUES_TOKEN: random,
    STRIPE_WEBHOOK_SECRET: () => `whsec_${random()}`,
  };
  for (const [name, make] of Object.entries(wanted)) secrets[name] ??= make();
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

const children: Subprocess[] = [];
let database: Awaited<ReturnType<typeof startLocalDatabase>> | undefined;
let stripeStandin: StripeStandin | undefined;
let shuttingDown = false;

async function shutdown(code: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  say("stopping...");
  for (const child of children) {
    // wrangler runs in its own process group: signal the group so workerd goes too.
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
  }
  await Promise.race([Promise.all(children.map((c) => c.exited)), Bun.sleep(5000)]);
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  }
  await stripeStandin?.stop();
  await database?.stop();
  say("stopped");
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
// `kill <npm's pid>` (a service manager's stop, a test) ends npm and its shell but is not passed on
// to this process, which would leave the edge and the worker (in their own process groups) running.
// An orphan notices its parent is gone and stops everything as Ctrl-C does.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) {
    say("the process that started this one exited");
    void shutdown(0);
  }
}, 1000).unref();

function spawnGroup(cmd: string[], env: Record<string, string>, name: string) {
  // setsid gives the child its own process group, so shutdown can signal it and its descendants.
  const child = Bun.spawn(["setsid", ...cmd], { cwd: root, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  children.push(child);
  const prefix = (stream: ReadableStream<Uint8Array>, write: (s: string) => void) =>
    (async () => {
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of stream) {
        buffer += decoder.decode(chunk, { stream: true });
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        for (const line of lines) if (line.trim()) write(`[${name}] ${line}\n`);
      }
    })();
  const lines: string[] = [];
  void prefix(child.stdout, (s) => (lines.push(s), process.stdout.write(s)));
  void prefix(child.stderr, (s) => (lines.push(s), process.stderr.write(s)));
  void child.exited.then((code) => {
    if (!shuttingDown) {
      console.error(`[start] ${name} exited with ${code}; stopping everything`);
      void shutdown(1);
    }
  });
  return { child, lines };
}

const serverUrl = process.env.DATABASE_URL;
say(serverUrl ? "using the PostgreSQL server in DATABASE_URL" : `embedded Postgres (PGlite) in ${join(dataDir, "pglite")}`);
database = await startLocalDatabase(serverUrl ? { serverUrl } : { dataDir: join(dataDir, "pglite") });
if (serverUrl) {
  const { db, pool } = connectDatabase(database.url, { localProxy: database.proxy });
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  await pool.end();
}
say(`database migrated; Neon-driver proxy on ${database.proxy}`);

const secrets = devSecrets();
const url = `http://127.0.0.1:${port}`;
const embedPort = Number(process.env.EMBED_PORT) || (await freePort());
// Without R2 credentials in the shell, presigned URLs point at the edge's own S3 stand-in.
const local = !process.env.R2_ACCESS_KEY_ID;
// Without Stripe keys in the shell, Stripe is the local stand-in: its checkout page completes a
// purchase and posts the signed webhook to the edge, like Stripe does (state in .data/stripe-standin.json).
const STANDIN_KEY = "sk_test_edgestock_local";
if (!process.env.STRIPE_SECRET_KEY) {
  stripeStandin = await startStripeStandin({
    port: Number(process.env.STRIPE_STANDIN_PORT) || 0,
    webhookSecret: secrets.STRIPE_WEBHOOK_SECRET as string,
    webhookUrl: `${url}/v1/webhooks/stripe`,
    apiKey: STANDIN_KEY,
    statePath: join(dataDir, "stripe-standin.json"),
  });
  say(`Stripe stand-in on ${stripeStandin.url} (checkout pages, Connect onboarding, signed webhooks)`);
}
const vars: Record<string, string> = {
  DATABASE_URL: database.url,
  DB_LOCAL_PROXY: database.proxy,
  ...secrets,
  ...(local ? { R2_S3_ENDPOINT: `${url}/_local/s3` } : {}),
  // The worker's query-embedding service, on EMBED_PORT or a port the OS says is free.
  EMBED_SERVICE_URL: `http://127.0.0.1:${embedPort}`,
  // Checkout return pages and the OpenAPI document's server name this address (never a request's Host).
  PUBLIC_APP_URL: process.env.PUBLIC_APP_URL ?? url,
  ...(stripeStandin ? { STRIPE_API_BASE: stripeStandin.url, STRIPE_SECRET_KEY: STANDIN_KEY } : {}),
};
for (const name of PASS_THROUGH) if (process.env[name]) vars[name] = process.env[name] as string;
// The Worker's secrets, in this data folder rather than a .dev.vars in the checkout: two stacks with
// their own data folders do not overwrite each other's, and `wrangler types --check` sees no secrets.
const secretsFile = join(dataDir, "dev.vars");
writeFileSync(
  secretsFile,
  `${GENERATED_SECRETS_HEADER}\n${Object.entries(vars)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join("\n")}\n`,
  { mode: 0o600 },
);
// Earlier versions wrote that file to the checkout's root: remove it there, but only if it is ours.
const legacySecrets = join(root, ".dev.vars");
if (existsSync(legacySecrets) && readFileSync(legacySecrets, "utf8").startsWith(GENERATED_SECRETS_HEADER)) rmSync(legacySecrets);

const edge = spawnGroup(
  [
    "node",
    "scripts/edge-dev.mjs",
    writeLocalWranglerConfig(),
    String(port),
    join(dataDir, "wrangler"),
    secretsFile,
    `DERIVATIVES_PUBLIC_URL=http://127.0.0.1:${port}/v1/derivatives`,
  ],
  quietWrangler,
  "edge",
);
const workerEnv: Record<string, string> = {
  DATABASE_URL: database.url,
  DB_LOCAL_PROXY: database.proxy,
  // The worker pulls from the local Queues stand-in and reads/writes R2 through the S3 stand-in.
  QUEUES_API_URL: `${url}/_local/queues/client/v4`,
  CF_ACCOUNT_ID: "local",
  JOBS_QUEUE_ID: "edgestock-jobs",
  QUEUES_API_TOKEN: secrets.LOCAL_QUEUES_TOKEN as string,
  R2_S3_ENDPOINT: vars.R2_S3_ENDPOINT ?? "",
  R2_ACCESS_KEY_ID: vars.R2_ACCESS_KEY_ID as string,
  R2_SECRET_ACCESS_KEY: vars.R2_SECRET_ACCESS_KEY as string,
  WORKER_SHARED_SECRET: secrets.WORKER_SHARED_SECRET as string,
  EMBED_PORT: String(embedPort),
};
// EDGESTOCK_WORKER=0 leaves the worker out (tests run their own, to stop and kill it at will).
if (process.env.EDGESTOCK_WORKER !== "0") spawnGroup([process.execPath, "gpu-worker/main.ts"], workerEnv, "worker");

const deadline = Date.now() + 60_000;
while (!edge.lines.some((l) => l.includes("Ready on"))) {
  if (Date.now() > deadline) {
    console.error("[start] the edge did not become ready in 60 s");
    await shutdown(1);
  }
  await Bun.sleep(200);
}
const health = await fetch(`${url}/v1/health`)
  .then((r) => r.json() as Promise<{ status: string }>)
  .catch(() => ({ status: "unreachable" }));
writeFileSync(
  join(dataDir, "stack.json"),
  JSON.stringify({ url, databaseUrl: database.url, databaseProxy: database.proxy, pid: process.pid, workerEnv, stripeStandinUrl: stripeStandin?.url ?? null }, null, 2),
  { mode: 0o600 },
);
console.log(`\nEdgestock is running at ${url}  (the web app; health: ${health.status}; API reference ${url}/v1/docs)\nPress Ctrl-C to stop.\n`);
