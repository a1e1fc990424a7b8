import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
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

/** Pids of processes whose environment names this data folder (the worker's command line does not). */
function pidsWithDataDir(dataDir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`EDGESTOCK_DATA_DIR=${dataDir}`)) found.push(pid);
    } catch {}
  }
  return found;
}

/**
 * Processes started for `text` (a stack's data folder): those naming it on their command line
 * (wrangler, workerd, Postgres) or in EDGESTOCK_DATA_DIR (the worker), after up to 5 s for them to exit.
 */
export async function survivorsNaming(text: string): Promise<string> {
  let survivors = "";
  for (let i = 0; i < 20; i++) {
    const byCommand = spawnSync("pgrep", ["-f", text], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    survivors = [...new Set([...byCommand, ...pidsWithDataDir(text)])].filter((pid) => pid !== String(process.pid)).join(" ");
    if (!survivors) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return survivors;
}

/**
 * Stops a stack as Ctrl-C does (SIGINT to its process group), waits for it, and returns what was
 * left running (then kills it, so a failed test leaves no process behind).
 */
export async function stopStack(stack: ChildProcess, dataDir: string): Promise<string> {
  if (stack.exitCode === null && stack.signalCode === null && stack.pid) {
    const exited = new Promise((resolve) => stack.once("exit", resolve));
    try {
      process.kill(-stack.pid, "SIGINT");
    } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    try {
      process.kill(-stack.pid, "SIGKILL");
    } catch {}
  }
  const survivors = await survivorsNaming(dataDir);
  for (const pid of survivors.split(" ").filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
  return survivors;
}
