// The edge API in workerd for `npm start` (scripts/start.ts runs this with Node, as wrangler needs).
//
//   node scripts/edge-dev.mjs <wrangler config> <port> <persist dir> <secrets file> [NAME=value ...]
//
// <secrets file> is a dotenv file of the Worker's secrets (npm start writes it into its data folder),
// read in place of the .dev.vars beside the config: a checkout's root holds no generated secrets, so
// `wrangler types --check` and concurrent stacks see the same files.
//
// Two ways, the same local R2, Queues, Durable Objects and bindings (state in <persist dir>/v3,
// where `wrangler dev --persist-to` keeps it):
// - default: what `wrangler dev` does, through wrangler's own API (`unstable_startWorker`, the
//   function the CLI calls), reloading on source changes, but with the DevTools inspector off unless
//   asked for. `wrangler dev` cannot turn it off, and with it on every runtime event of every request
//   (each subrequest's network events among them) is relayed to wrangler's Node process: about 1.8 ms
//   of CPU per search request on this machine.
// - EDGESTOCK_EDGE=bundle: the bundle `wrangler deploy` would build from the config (`--dry-run`), run
//   by Miniflare as the only Worker: no dev proxy Worker in front, no reloading, no request log from
//   Miniflare (the Worker logs each request itself). What the search benchmark measures: a request
//   costs what it costs deployed, not what wrangler's dev tooling adds (about 1.1 ms of CPU more).
//
// Env: EDGESTOCK_INSPECTOR_PORT turns the inspector on at that port (attach chrome://inspect).
// Prints "Ready on <url>" once requests are served; SIGINT or SIGTERM stops workerd and exits.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_startWorker } from "wrangler";

const [config, port, persist, secretsFile, ...vars] = process.argv.slice(2);
if (!config || !port || !persist || !secretsFile) {
  console.error("usage: node scripts/edge-dev.mjs <wrangler config> <port> <persist dir> <secrets file> [NAME=value ...]");
  process.exit(2);
}
const extraVars = Object.fromEntries(
  vars.map((pair) => {
    const at = pair.indexOf("=");
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const inspectorPort = Number(process.env.EDGESTOCK_INSPECTOR_PORT) || undefined;

const edge = process.env.EDGESTOCK_EDGE === "bundle" ? await startBundle() : await startDev();
console.log(`Ready on ${edge.url}${inspectorPort ? ` (inspector on 127.0.0.1:${inspectorPort})` : ""}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await edge.dispose().catch(() => undefined);
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

async function startDev() {
  const worker = await unstable_startWorker({
    config,
    envFiles: [resolve(secretsFile)],
    bindings: Object.fromEntries(Object.entries(extraVars).map(([name, value]) => [name, { type: "plain_text", value }])),
    dev: {
      server: { hostname: "127.0.0.1", port: Number(port) },
      inspector: inspectorPort ? { hostname: "127.0.0.1", port: inspectorPort } : false,
      persist,
    },
  });
  await worker.ready;
  return { url: String(await worker.url), dispose: () => worker.dispose() };
}

async function startBundle() {
  const outdir = join(resolve(persist), "..", "edge-bundle");
  mkdirSync(outdir, { recursive: true });
  const wrangler = fileURLToPath(new URL("../node_modules/.bin/wrangler", import.meta.url));
  const build = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", outdir, "-c", config], { encoding: "utf8" });
  if (build.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${build.stdout}\n${build.stderr}`);
  // wrangler names the bundle after the entry: local.js for wrangler.local.toml's edge/local.ts.
  const main = /^main = "(.+)"$/m.exec(readFileSync(config, "utf8"))?.[1];
  if (!main) throw new Error(`${config} has no main = "..." line`);
  const script = `${basename(main).replace(/\.[cm]?[jt]s$/, "")}.js`;
  // The bindings, compatibility settings, queues and Durable Objects of the config, and the secrets.
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config, undefined, { envFiles: [resolve(secretsFile)] });
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: Number(port),
    inspectorPort,
    defaultPersistRoot: join(resolve(persist), "v3"),
    logRequests: false,
    workers: [
      {
        ...workerOptions,
        name: "edgestock",
        modules: true,
        modulesRoot: outdir,
        scriptPath: join(outdir, script),
        bindings: { ...workerOptions.bindings, ...extraVars },
      },
    ],
  });
  return { url: String(await mf.ready), dispose: () => mf.dispose() };
}
