// The edge API in workerd for `npm start` (scripts/start.ts runs this with Node, as wrangler needs):
// what `wrangler dev` does, through wrangler's own API (`unstable_startWorker`, the function the CLI
// calls), so the same local R2, Queues and bindings, but with the DevTools inspector off unless
// asked for. `wrangler dev` cannot turn it off, and with it on every runtime event of every request
// (each subrequest's network events among them) is relayed to wrangler's Node process: about 1.8 ms
// of CPU per search request on this machine, which a deployed Worker does not pay and which would
// count in the search benchmark.
//
//   node scripts/edge-dev.mjs <wrangler config> <port> <persist dir> [NAME=value ...]
//
// Env: EDGESTOCK_INSPECTOR_PORT turns the inspector on at that port (attach chrome://inspect);
// EDGESTOCK_REQUEST_LOG=1 logs a line per request, as `wrangler dev` does.
// Prints "Ready on <url>" once requests are served; SIGINT or SIGTERM stops workerd and exits.
import { unstable_startWorker } from "wrangler";

const [config, port, persist, ...vars] = process.argv.slice(2);
if (!config || !port || !persist) {
  console.error("usage: node scripts/edge-dev.mjs <wrangler config> <port> <persist dir> [NAME=value ...]");
  process.exit(2);
}
const bindings = Object.fromEntries(
  vars.map((pair) => {
    const at = pair.indexOf("=");
    return [pair.slice(0, at), { type: "plain_text", value: pair.slice(at + 1) }];
  }),
);
const inspectorPort = Number(process.env.EDGESTOCK_INSPECTOR_PORT);

const worker = await unstable_startWorker({
  config,
  bindings,
  dev: {
    server: { hostname: "127.0.0.1", port: Number(port) },
    inspector: inspectorPort ? { hostname: "127.0.0.1", port: inspectorPort } : false,
    persist,
    logLevel: process.env.EDGESTOCK_REQUEST_LOG === "1" ? "info" : "log",
  },
});
await worker.ready;
console.log(`Ready on ${await worker.url}${inspectorPort ? ` (inspector on 127.0.0.1:${inspectorPort})` : ""}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await worker.dispose().catch(() => undefined);
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
