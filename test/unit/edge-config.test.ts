import { describe, expect, it } from "vitest";
import { readConfig } from "../../edge/config";

describe("edge configuration", () => {
  const base = { JWT_PRIVATE_KEY: "k", JWT_PUBLIC_KEY: "k", JWT_ISSUER: "i", JWT_AUDIENCE: "a", R2_ACCESS_KEY_ID: "a", R2_SECRET_ACCESS_KEY: "s", R2_ACCOUNT_ID: "acc" };

  it("names a missing secret", () => {
    expect(() => readConfig({ ...base } as unknown as Env)).toThrow(/DATABASE_URL is not set/);
  });

  it("refuses the local database proxy in production", () => {
    expect(() => readConfig({ ...base, DATABASE_URL: "postgres://x", ENVIRONMENT: "production", DB_LOCAL_PROXY: "127.0.0.1:1" } as unknown as Env)).toThrow(
      /DB_LOCAL_PROXY/,
    );
  });

  it("needs an R2 account or S3 endpoint, and derives the endpoint from the account", () => {
    const { R2_ACCOUNT_ID: _, ...noAccount } = base;
    expect(() => readConfig({ ...noAccount, DATABASE_URL: "postgres://x" } as unknown as Env)).toThrow(/R2_ACCOUNT_ID is not set/);
    expect(readConfig({ ...base, DATABASE_URL: "postgres://x" } as unknown as Env).s3Endpoint).toBe("https://acc.r2.cloudflarestorage.com");
    expect(readConfig({ ...noAccount, DATABASE_URL: "postgres://x", R2_S3_ENDPOINT: "http://127.0.0.1:8787/_local/s3/" } as unknown as Env).s3Endpoint).toBe(
      "http://127.0.0.1:8787/_local/s3",
    );
  });

  it("refuses the local queue stand-in token in production", () => {
    expect(() => readConfig({ ...base, DATABASE_URL: "postgres://x", ENVIRONMENT: "production", LOCAL_QUEUES_TOKEN: "t" } as unknown as Env)).toThrow(/LOCAL_QUEUES_TOKEN/);
  });
});
