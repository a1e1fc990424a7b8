/**
 * Search through the whole local stack: `npm start` (workerd, the Neon driver, the proxy) on the
 * benchmark database that load.ts filled, with the edge as its deploy bundle (EDGESTOCK_EDGE=bundle:
 * no `wrangler dev` inspector, proxy Worker or request log, which production does not have either),
 * 32 concurrent clients, the cache bypassed (`Cache-Control: no-cache`), each client from its own
 * address (CF-Connecting-IP, trusted with TRUST_CF_CONNECTING_IP as behind Cloudflare: the per-IP
 * rate limit is for people, not for this). Query embeddings come from a
 * stand-in of the worker's /embed/text that answers each benchmark query with the corpus's matching
 * query embedding (a CLIP model on this CPU would measure CLIP, not search; its cost is in
 * `npm run bench:clip`).
 *
 * Prints p50/p95/p99 and requests/s per mode, with and without a filter, and the ratio of the API's
 * p50 to the bare SQL p50 of the same searches (searchImages() called directly, same driver).
 *
 * Closed loop by default: 32 clients each send their next request when the last one answers, which
 * measures capacity (and p50 ≈ clients / throughput). `--rate R` is an open loop instead: requests
 * start on a fixed schedule of R per second whatever the answers do, and latency counts from the
 * scheduled start (no coordinated omission): the latency a steady 10,000 searches a minute would see.
 *
 *   bun scripts/bench/search/api.ts [--requests 640] [--clients 32] [--rate 167] [--only hybrid,keyword] [--cpu]
 *
 * `--only` picks rows by name; `--cpu` also prints, per row, the CPU each process on the machine used
 * per request (from /proc), which says where the two cores go.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { catalogueFactsFrom, catalogueProbeStatement, type Retrieval, searchStatement } from "../../../edge/services/catalogue/search-sql";
import { recordFigures } from "../lib/figures";
import { SearchCorpus } from "./corpus";
import { assertSearchDefaults, BENCH_MODEL, benchDatabaseUrl, openBenchDatabase, percentile, readCorpusStamp, serverSettings, sizeLabel } from "./db";

const figures = recordFigures("search-api");

const { values: args } = parseArgs({
  options: { requests: { type: "string" }, clients: { type: "string" }, rate: { type: "string" }, only: { type: "string" }, cpu: { type: "boolean" } },
});
const REQUESTS = Number(args.requests ?? 640);
const CLIENTS = Number(args.clients ?? 32);
const RATE = args.rate ? Number(args.rate) : null;
const root = resolve(import.meta.dirname, "../../..");
const url = benchDatabaseUrl();

const probe = await openBenchDatabase(url, 1);
const stamp = await readCorpusStamp(probe.pool);
await probe.close();
if (!stamp) throw new Error(`no corpus in ${url}: run scripts/bench/search/load.ts first`);
figures.rename(`search-api-${sizeLabel(stamp.size)}${RATE ? `-rate${RATE}` : ""}`);
const queries = new SearchCorpus(stamp).queries();
const embeddings = new Map(queries.map((q) => [q.text.toLowerCase(), Array.from(q.embedding)]));

// The stack, on a free port, without the worker; its embedding service is the stand-in below.
const port = 18800 + Math.floor(Math.random() * 500);
const dataDir = mkdtempSync(join(tmpdir(), "search-bench-"));
const stack = spawn(process.execPath, ["scripts/start.ts"], {
  cwd: root,
  env: {
    ...process.env,
    PORT: String(port),
    EDGESTOCK_DATA_DIR: dataDir,
    EDGESTOCK_WORKER: "0",
    EDGESTOCK_EDGE: "bundle",
    DATABASE_URL: url,
    TRUST_CF_CONNECTING_IP: "true",
    EMBED_PORT: String(port + 1),
  },
  stdio: ["ignore", "pipe", "pipe"],
  detached: true,
});
let log = "";
stack.stdout.on("data", (d) => (log += d));
stack.stderr.on("data", (d) => (log += d));
const stop = () => {
  try {
    if (stack.pid) process.kill(-stack.pid, "SIGINT");
  } catch {}
};
process.on("exit", stop);
for (const deadline = Date.now() + 90_000; !log.includes("Edgestock is running at"); ) {
  if (Date.now() > deadline || stack.exitCode !== null) throw new Error(`the stack did not start:\n${log}`);
  await Bun.sleep(200);
}
// Opened after `npm start` migrated the database: its connections start with the database's
// pgvector defaults (migration 0006), as the Worker's do.
const bench = await openBenchDatabase(url, 2);
// What the route learns about the catalogue (the RUM index, its size, its common lexemes), for the bare SQL.
const facts = catalogueFactsFrom((await bench.db.execute(catalogueProbeStatement())).rows[0]);
await assertSearchDefaults(bench.pool);
const secret = (JSON.parse(readFileSync(join(dataDir, "dev-secrets.json"), "utf8")) as { WORKER_SHARED_SECRET: string }).WORKER_SHARED_SECRET;
const embedService = Bun.serve({
  port: port + 1,
  hostname: "127.0.0.1",
  async fetch(request) {
    if (request.headers.get("authorization") !== `Bearer ${secret}`) return new Response("no", { status: 401 });
    const { texts } = (await request.json()) as { texts: string[] };
    const vectors = texts.map((t) => embeddings.get(t));
    if (vectors.some((v) => !v)) return new Response("unknown query", { status: 404 });
    return Response.json({ model: BENCH_MODEL.model, version: BENCH_MODEL.version, dimensions: BENCH_MODEL.dimensions, embeddings: vectors });
  },
});

type Scenario = { name: string; params: (i: number) => Record<string, string> };
const pick = (i: number) => queries[i % queries.length] as (typeof queries)[number];
const filter = (i: number) => ({ category: pick(i).filter.category, orientation: pick(i).filter.orientation });
const scenarios: Scenario[] = [
  { name: "keyword", params: (i) => ({ q: pick(i).text, mode: "keyword" }) },
  { name: "keyword + filter", params: (i) => ({ q: pick(i).text, mode: "keyword", ...filter(i) }) },
  { name: "semantic", params: (i) => ({ q: pick(i).text, mode: "semantic" }) },
  { name: "semantic + filter", params: (i) => ({ q: pick(i).text, mode: "semantic", ...filter(i) }) },
  { name: "hybrid", params: (i) => ({ q: pick(i).text, mode: "hybrid" }) },
  { name: "hybrid + filter", params: (i) => ({ q: pick(i).text, mode: "hybrid", ...filter(i) }) },
];

const only = args.only?.split(",").map((s) => s.trim());
const selected = only ? scenarios.filter((s) => only.includes(s.name)) : scenarios;

/** CPU seconds used so far by each process on the machine, by command name (Linux /proc). */
function cpuByCommand(): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Kernel workers rename themselves after their current work item: count them as one.
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/^kworker\/.*/, "kworker");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const used = Number(fields[11]) + Number(fields[12]);
      ticks.set(name, (ticks.get(name) ?? 0) + used / 100);
    } catch {}
  }
  return ticks;
}

const base = `http://127.0.0.1:${port}`;
async function run(scenario: Scenario) {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  let degraded = 0;
  const started = performance.now();
  /** One search; latency counts from `since` (its scheduled start in the open loop). */
  async function search(i: number, client: number, since: number) {
    const res = await fetch(`${base}/v1/search?${new URLSearchParams(scenario.params(i))}`, {
      headers: { "cache-control": "no-cache", "cf-connecting-ip": `10.${client % 250}.${i % 250}.${(i >> 8) % 250}` },
    });
    const body = (await res.json()) as { degraded?: string[] };
    latencies.push(performance.now() - since);
    if (!res.ok) {
      if (failures++ === 0) console.error(`  first failure: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    } else if (body.degraded?.length) degraded++;
  }
  if (RATE) {
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const due = started + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      inFlight.push(search(i, i, due));
    }
    await Promise.all(inFlight);
  } else {
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        while (next < REQUESTS) await search(next++, client, performance.now());
      }),
    );
  }
  const wall = performance.now() - started;
  return { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), rps: (REQUESTS * 1000) / wall, failures, degraded };
}

// Bare SQL: the route's own statement (edge/services/catalogue/search-sql.ts) for the same searches, through
// the same driver and proxy, one at a time: what the API adds is the ratio.
async function bareSql(scenario: Scenario): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const p = scenario.params(i);
    const q = p.q ?? "";
    const embedding = embeddings.get(q.toLowerCase()) ?? [];
    const retrieval: Retrieval =
      p.mode === "keyword"
        ? { kind: "keyword", query: q }
        : p.mode === "semantic"
          ? { kind: "semantic", embedding, model: BENCH_MODEL }
          : { kind: "hybrid", query: q, embedding, model: BENCH_MODEL };
    const filters = { safe: true, ...(p.category ? { category: p.category } : {}), ...(p.orientation ? { orientation: p.orientation as "portrait" } : {}) };
    const statement = searchStatement({
      retrieval,
      filters: filters as Parameters<typeof searchStatement>[0]["filters"],
      sort: "relevance",
      limit: 25,
      offset: 0,
      now: new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000),
      rumIndex: facts.rumIndex,
      catalogueRows: facts.catalogueRows ?? undefined,
      commonLexemes: facts.commonLexemes,
    });
    const t0 = performance.now();
    await bench.db.execute(statement);
    times.push(performance.now() - t0);
  }
  return percentile(times, 50);
}

console.log(await serverSettings(bench.pool));
console.log(`corpus: ${stamp.size} images; ${RATE ? `open loop at ${RATE} requests/s` : `${CLIENTS} concurrent clients`}, ${REQUESTS} requests per row, cache bypassed\n`);
console.log("mode                  p50 ms   p95 ms   p99 ms    req/s   bare SQL p50   API/SQL");
for (const scenario of selected) {
  await run({ ...scenario, params: scenario.params }); // warm-up pass, discarded
  const before = args.cpu ? cpuByCommand() : null;
  const r = await run(scenario);
  if (before) {
    // Where the cores went during the measured pass, per process name, in core-ms per request.
    const after = cpuByCommand();
    const used = [...after].map(([name, s]) => [name, ((s - (before.get(name) ?? 0)) * 1000) / REQUESTS] as const).filter(([, ms]) => ms >= 0.1);
    console.log(
      `  cpu per request: ${used
        .sort((a, b) => b[1] - a[1])
        .map(([n, ms]) => `${n} ${ms.toFixed(1)} ms`)
        .join(", ")}`,
    );
  }
  const sqlP50 = await bareSql(scenario);
  const problems = r.failures || r.degraded ? `  (${r.failures} failed, ${r.degraded} degraded)` : "";
  console.log(
    `${scenario.name.padEnd(20)} ${r.p50.toFixed(1).padStart(7)}  ${r.p95.toFixed(1).padStart(7)}  ${r.p99.toFixed(1).padStart(7)}  ${r.rps.toFixed(0).padStart(7)}   ${sqlP50.toFixed(1).padStart(10)} ms   ${(r.p50 / sqlP50).toFixed(1)}x${problems}`,
  );
}
await bench.close();
await embedService.stop();
stop();
await Bun.sleep(3000);
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
