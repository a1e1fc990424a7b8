import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./free-port";

const root = resolve(import.meta.dirname, "../..");

export type SeededStack = { url: string; stop: () => Promise<void> };

/**
 * `npm start` on a fresh data folder and a free port, then `npm run seed` (the demo catalogue and
 * accounts), offline (no model downloads). For what measures, shows or tests the product as a new
 * user sees it (the web benchmark, the README screenshots, the browser tests' global setup).
 * `stop()` ends everything it started.
 */
export async function startSeededStack(): Promise<SeededStack> {
  const dataDir = mkdtempSync(join(tmpdir(), "edgestock-stack-"));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), EDGESTOCK_DATA_DIR: dataDir, HF_HUB_OFFLINE: "1" };
  delete env.DATABASE_URL;
  const child: ChildProcess = spawn("npm", ["start"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      child.kill("SIGTERM");
      for (let i = 0; i < 40 && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 200));
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  while (!/Edgestock is running at (\S+)/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`npm start did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const url = /Edgestock is running at (\S+)/.exec(output)?.[1] ?? "";
  const seeded = await new Promise<{ status: number | null; log: string }>((done) => {
    const seed = spawn("npm", ["run", "seed"], { cwd: root, env: { ...env, SEED_GENERATED: "6" }, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    seed.stdout?.on("data", (d) => (log += d));
    seed.stderr?.on("data", (d) => (log += d));
    seed.on("close", (status) => done({ status, log }));
  });
  if (seeded.status !== 0) {
    await stop();
    throw new Error(`npm run seed failed:\n${seeded.log}\n--- npm start ---\n${output}`);
  }
  return { url, stop };
}
