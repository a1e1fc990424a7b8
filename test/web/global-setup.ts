import type { TestProject } from "vitest/node";
import { startSeededStack } from "../../scripts/lib/stack";

declare module "vitest" {
  export interface ProvidedContext {
    /** The running stack's base URL (`npm start` on a fresh data folder, demo catalogue seeded). */
    webUrl: string;
  }
}

/**
 * One stack for every browser test: the README's `npm start` on a fresh data folder, offline, seeded
 * with the demo catalogue (`npm run seed`: demo accounts, real photographs, approved by the NSFW
 * check). The test files run one after another against it; each makes its own accounts.
 */
export default async function setup(project: TestProject) {
  const { url, stop } = await startSeededStack();
  project.provide("webUrl", url);
  return stop;
}
