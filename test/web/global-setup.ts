import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { runNpmStart } from "../support/stack";

declare module "vitest" {
  export interface ProvidedContext {
    /** The running stack's base URL (`npm start` on a fresh data folder, demo catalogue seeded). */
    webUrl: string;
  }
}

/** No network: the worker and the seed must not try to fetch a CLIP model from the Hub. */
const OFFLINE = { HF_HUB_OFFLINE: "1" };

/**
 * One stack for every browser test: the README's `npm start` on a fresh data folder, seeded with
 * the demo catalogue (`npm run seed`: demo accounts, real photographs, approved by the NSFW check).
 * The test files run one after another against it; each makes its own accounts.
 */
export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(join(tmpdir(), "edgestock-web-"));
  const { child, url, output } = await runNpmStart(dataDir, OFFLINE);
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
  try {
    const seeded = await new Promise<{ status: number | null; log: string }>((resolve) => {
      const seed = spawn("npm", ["run", "seed"], { env: { ...process.env, ...OFFLINE, EDGESTOCK_DATA_DIR: dataDir, SEED_GENERATED: "6" } });
      let log = "";
      seed.stdout.on("data", (d) => (log += d));
      seed.stderr.on("data", (d) => (log += d));
      seed.on("close", (status) => resolve({ status, log }));
    });
    if (seeded.status !== 0) throw new Error(`npm run seed failed:\n${seeded.log}\n--- stack ---\n${output()}`);
  } catch (error) {
    await stop();
    throw error;
  }
  project.provide("webUrl", url);
  return stop;
}
