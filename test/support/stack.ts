import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { freePort } from "../../scripts/lib/free-port";

export type StartedStack = { child: ChildProcess; url: string; output: () => string };

/**
 * `npm start` as a new user runs it, on `dataDir`, on a free port, in its own process group (so a
 * test can signal everything it started), with the embedded database unless `env` names a server.
 * Resolves once it prints its URL; if it exits or takes over two minutes, kills what it started and
 * throws with its output.
 */
export async function runNpmStart(dataDir: string, env: Record<string, string> = {}): Promise<StartedStack> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), EDGESTOCK_DATA_DIR: dataDir };
  delete childEnv.DATABASE_URL;
  Object.assign(childEnv, env);
  const child = spawn("npm", ["start"], { env: childEnv, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const deadline = Date.now() + 120_000;
  while (!/Edgestock is running at (\S+)/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {}
      throw new Error(`stack did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, url: /Edgestock is running at (\S+)/.exec(output)?.[1] ?? "", output: () => output };
}

/** Processes whose command line names `text` (a stack's data folder), after up to 5 s for them to exit. */
export async function survivorsNaming(text: string): Promise<string> {
  let survivors = "";
  for (let i = 0; i < 20; i++) {
    survivors = spawnSync("pgrep", ["-f", text], { encoding: "utf8" }).stdout.trim();
    if (!survivors) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return survivors;
}
