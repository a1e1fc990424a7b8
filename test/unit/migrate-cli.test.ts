import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMigrateArgs, UsageError } from "../../migrate/args";
import { readMigrateConfig, withLocalStack } from "../../migrate/config";

describe("the migrate command line", () => {
  it("parses the folder, the flags and the defaults", () => {
    expect(parseMigrateArgs(["/photos", "--contributor", "c@example.test"])).toMatchObject({
      folder: "/photos",
      contributor: "c@example.test",
      batch: 32,
      uploadConcurrency: 8,
      dryRun: false,
      retryFailed: false,
      ml: true,
      deferIndex: false,
    });
    expect(
      parseMigrateArgs([
        "/photos",
        "--contributor",
        "c",
        "--batch",
        "8",
        "--concurrency",
        "3",
        "--no-ml",
        "--defer-index",
        "--retry-failed",
        "--manifest",
        "m.csv",
        "--summary-json",
        "s.json",
      ]),
    ).toMatchObject({
      batch: 8,
      concurrency: 3,
      ml: false,
      deferIndex: true,
      retryFailed: true,
      manifest: "m.csv",
      summaryJson: "s.json",
    });
    expect(parseMigrateArgs(["--help"])).toBeNull();
  });

  it("refuses what it cannot run, with a message naming the problem", () => {
    const error = (argv: string[]) => {
      try {
        parseMigrateArgs(argv);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(error(["--contributor", "c"])).toMatch(/folder to migrate is missing/);
    expect(error(["/photos"])).toMatch(/--contributor is required/);
    expect(error(["/photos", "--contributor", "c", "--batch", "65"])).toMatch(/--batch must be at most 64/);
    expect(error(["/photos", "--contributor", "c", "--concurrency", "two"])).toMatch(/--concurrency must be a whole number/);
    expect(error(["/a", "/b", "--contributor", "c"])).toMatch(/one folder at a time/);
    expect(error(["/a", "--contributor", "c", "--fast"])).toMatch(/--fast/);
  });
});

describe("the migrate configuration", () => {
  const base = { DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db", R2_ACCOUNT_ID: "acc", R2_ACCESS_KEY_ID: "k", R2_SECRET_ACCESS_KEY: "s" };

  it("shares the worker's names and defaults", () => {
    const config = readMigrateConfig(base);
    expect(config).toMatchObject({ ORIGINALS_BUCKET_NAME: "edgestock-originals", MAX_INPUT_PIXELS: 150_000_000, NSFW_THRESHOLD: 0.1, MIGRATE_PROGRESS_MS: 5000 });
    expect(config.s3Endpoint).toBe("https://acc.r2.cloudflarestorage.com");
    expect(config.CLIP_EXECUTION_PROVIDERS).toEqual(["cuda", "cpu"]);
  });

  it("names every missing variable", () => {
    expect(() => readMigrateConfig({})).toThrow(/DATABASE_URL is not set.*R2_ACCESS_KEY_ID is not set.*R2_SECRET_ACCESS_KEY is not set/);
    const { R2_ACCOUNT_ID: _, ...noAccount } = base;
    expect(() => readMigrateConfig(noAccount)).toThrow(/R2_ACCOUNT_ID is not set/);
  });

  it("takes a running local stack's settings when DATABASE_URL is not set", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "migrate-stack-"));
    try {
      expect(withLocalStack({ EDGESTOCK_DATA_DIR: dataDir }).from).toBeNull();
      writeFileSync(
        join(dataDir, "stack.json"),
        JSON.stringify({
          url: "http://127.0.0.1:1",
          databaseUrl: "postgres://local/db",
          databaseProxy: "127.0.0.1:2",
          workerEnv: { R2_S3_ENDPOINT: "http://127.0.0.1:1/_local/s3", R2_ACCESS_KEY_ID: "lk", R2_SECRET_ACCESS_KEY: "ls", NSFW_THRESHOLD: "0.5" },
        }),
      );
      const { env, from } = withLocalStack({ EDGESTOCK_DATA_DIR: dataDir, NSFW_THRESHOLD: "0.2" });
      expect(from).toBe(join(dataDir, "stack.json"));
      const config = readMigrateConfig(env);
      expect(config).toMatchObject({ DATABASE_URL: "postgres://local/db", DB_LOCAL_PROXY: "127.0.0.1:2", s3Endpoint: "http://127.0.0.1:1/_local/s3", NSFW_THRESHOLD: 0.2 });
      // A DATABASE_URL in the environment wins over the file entirely.
      expect(withLocalStack({ EDGESTOCK_DATA_DIR: dataDir, DATABASE_URL: "postgres://other/db" }).from).toBeNull();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
