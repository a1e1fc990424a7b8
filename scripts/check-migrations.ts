/**
 * Fails when db/schema has changed without a committed migration: runs `drizzle-kit generate`
 * against a throw-away copy of db/migrations and looks for anything it wrote.
 *
 * @example
 * bun scripts/check-migrations.ts --check
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { MIGRATIONS_FOLDER } from "../db/migrations-folder";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCHEMA = join(ROOT, "db/schema/index.ts");
const DRIZZLE_KIT = join(ROOT, "node_modules/.bin/drizzle-kit");

// Checking is the only mode; `--check` is accepted so CI can call every generator the same way.
const unknownArgs = process.argv.slice(2).filter((arg) => arg !== "--check");
if (unknownArgs.length > 0) {
  console.error(`unknown argument(s): ${unknownArgs.join(" ")}\nusage: bun scripts/check-migrations.ts [--check]`);
  process.exit(2);
}

/** Every file under `dir` with its contents, keyed by path relative to `dir`. */
function snapshotFolder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path), readFileSync(path, "utf8"));
  }
  return files;
}

/** Runs drizzle-kit generate on a copy of the committed migrations; returns the failure, or null when current. */
function findUncommittedMigration(): string | null {
  const work = mkdtempSync(join(tmpdir(), "edgestock-migrations-"));
  try {
    const out = join(work, "migrations");
    cpSync(MIGRATIONS_FOLDER, out, { recursive: true });
    const before = snapshotFolder(out);

    // drizzle-kit prefixes `./` to the paths in its config, so they must be relative to its cwd.
    const config = join(work, "drizzle.config.json");
    writeFileSync(config, JSON.stringify({ dialect: "postgresql", schema: relative(work, SCHEMA), out: "./migrations" }));
    // stdin closed: if drizzle-kit wants to ask (a rename?), it must fail here, not wait forever.
    const run = spawnSync(DRIZZLE_KIT, ["generate", "--config", config], {
      cwd: work,
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
      timeout: 120_000,
    });
    const after = snapshotFolder(out);
    const changed = [...after.keys()].filter((file) => before.get(file) !== after.get(file));

    if (changed.length > 0) {
      const sql = changed.filter((file) => file.endsWith(".sql")).map((file) => `\n-- ${file}\n${after.get(file)}`);
      return [
        "db/schema has changes without a committed migration; drizzle-kit generate produced:",
        ...changed.map((file) => `  ${file}`),
        ...sql,
        "\nrun `npm run db:generate -- --name <what-changed>` and commit db/migrations",
      ].join("\n");
    }
    // drizzle-kit exits 0 even when it throws, so success is its own "nothing to migrate" line.
    if (run.status !== 0 || !run.stdout.includes("No schema changes")) {
      return [
        `${run.stdout}${run.stderr}${run.error ?? ""}`,
        "drizzle-kit generate did not finish (it may need an interactive answer, e.g. rename or create):",
        "run `npm run db:generate` and commit the result",
      ].join("\n");
    }
    return null;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const failure = findUncommittedMigration();
if (failure) {
  console.error(failure);
  process.exitCode = 1;
} else {
  console.log("migrations are current");
}
