import { describe, expect, it } from "vitest";
import { readConfig } from "../../edge/config";

describe("edge configuration", () => {
  const base = { JWT_PRIVATE_KEY: "k", JWT_PUBLIC_KEY: "k", JWT_ISSUER: "i", JWT_AUDIENCE: "a" };

  it("names a missing secret", () => {
    expect(() => readConfig({ ...base } as unknown as Env)).toThrow(/DATABASE_URL is not set/);
  });

  it("refuses the local database proxy in production", () => {
    expect(() => readConfig({ ...base, DATABASE_URL: "postgres://x", ENVIRONMENT: "production", DB_LOCAL_PROXY: "127.0.0.1:1" } as unknown as Env)).toThrow(
      /DB_LOCAL_PROXY/,
    );
  });
});
