/**
 * Auth figures, measured in workerd (`wrangler dev`) against the embedded Postgres through the
 * Neon driver path, as `npm start` runs it:
 *   - PBKDF2-SHA256 (100,000 iterations) per hash, in Bun and inferred inside workerd
 *     (login p50 minus /me p50: login does one hash verify plus about the same queries);
 *   - p50/p95 latency of register, login, refresh, /me and health over N sequential requests.
 * Run: `bun scripts/bench/auth.ts [N=40]`. Prints a table; nothing is asserted.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startLocalDatabase } from "../../db/local/server";
import { hashPassword, PASSWORD_ITERATIONS } from "../../edge/lib/password";
import { generateJwtKeyPair } from "../lib/dev-keys";
import { recordFigures } from "./lib/figures";

recordFigures("auth");

const N = Number(process.argv[2] ?? 40);
const root = resolve(import.meta.dir, "../..");
const port = 18000 + Math.floor(Math.random() * 2000);
const url = `http://127.0.0.1:${port}`;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const row = (name: string, xs: number[]) =>
  console.log(`${name.padEnd(34)} p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms   p95 ${pct(xs, 95).toFixed(1).padStart(7)} ms   (n=${xs.length})`);

// PBKDF2 in Bun (BoringSSL), for reference.
const bunHash: number[] = [];
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  await hashPassword("benchmark password");
  bunHash.push(performance.now() - t);
}

const db = await startLocalDatabase({});
const dir = mkdtempSync(join(tmpdir(), "edgestock-bench-"));
const envFile = join(dir, ".env");
// The edge's configuration requires R2 S3 credentials (it presigns uploads); auth never reaches R2.
// Each simulated user comes from its own address, as behind Cloudflare (the auth rate limits are per IP).
const secrets = {
  DATABASE_URL: db.url,
  DB_LOCAL_PROXY: db.proxy,
  R2_ACCOUNT_ID: "bench",
  R2_ACCESS_KEY_ID: "bench",
  R2_SECRET_ACCESS_KEY: "bench",
  TRUST_CF_CONNECTING_IP: "true",
  ...generateJwtKeyPair(),
};
writeFileSync(
  envFile,
  Object.entries(secrets)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join("\n"),
);
const wrangler = Bun.spawn(
  [
    "setsid",
    "node_modules/.bin/wrangler",
    "dev",
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--env-file",
    envFile,
    "--persist-to",
    join(dir, "state"),
    "--log-level",
    process.env.BENCH_LOG ?? "error",
  ],
  {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" },
    stdout: process.env.BENCH_LOG ? "inherit" : "ignore",
    stderr: "inherit",
  },
);
try {
  for (let i = 0; ; i++) {
    if (i > 200) throw new Error("wrangler dev did not start");
    if (
      await fetch(`${url}/v1/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await Bun.sleep(200);
  }
  const post = (path: string, body: unknown, ip: string) =>
    fetch(url + path, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": ip }, body: JSON.stringify(body) });
  const time = async (fn: () => Promise<Response>, expect: number) => {
    const t = performance.now();
    const res = await fn();
    const ms = performance.now() - t;
    if (res.status !== expect) throw new Error(`expected ${expect}, got ${res.status}: ${await res.text()}`);
    return { ms, res };
  };
  const figures: Record<string, number[]> = { register: [], login: [], refresh: [], me: [], health: [] };
  for (let i = 0; i < N; i++) {
    const ip = `10.9.${i >> 8}.${i & 255}`;
    const email = `bench-${i}-${Date.now()}@example.test`;
    const password = "bench password 123";
    const reg = await time(() => post("/v1/auth/register", { email, password, displayName: "Bench" }, ip), 201);
    figures.register?.push(reg.ms);
    const login = await time(() => post("/v1/auth/login", { email, password }, ip), 200);
    figures.login?.push(login.ms);
    const { tokens } = (await login.res.json()) as { tokens: { accessToken: string; refreshToken: string } };
    const refresh = await time(() => post("/v1/auth/refresh", { refreshToken: tokens.refreshToken }, ip), 200);
    figures.refresh?.push(refresh.ms);
    const me = await time(() => fetch(`${url}/v1/auth/me`, { headers: { authorization: `Bearer ${tokens.accessToken}`, "cf-connecting-ip": ip } }), 200);
    figures.me?.push(me.ms);
    figures.health?.push((await time(() => fetch(`${url}/v1/health`), 200)).ms);
  }
  console.log(`\nAuth latency, wrangler dev (workerd) + embedded PGlite via the Neon driver, ${N} sequential users\n`);
  for (const [name, xs] of Object.entries(figures)) row(`POST/GET ${name}`, xs.slice(2)); // first two are warm-up
  row(`PBKDF2 x${PASSWORD_ITERATIONS} in Bun`, bunHash.slice(1));
  console.log(`PBKDF2 x${PASSWORD_ITERATIONS} in workerd (login - me, p50)   ${(pct(figures.login ?? [], 50) - pct(figures.me ?? [], 50)).toFixed(1)} ms`);
} finally {
  try {
    process.kill(-wrangler.pid, "SIGTERM");
  } catch {}
  await Promise.race([wrangler.exited, Bun.sleep(3000)]);
  try {
    process.kill(-wrangler.pid, "SIGKILL");
  } catch {}
  await db.stop();
  rmSync(dir, { recursive: true, force: true });
}
