import { describe, expect, it } from "vitest";
import { readConfig } from "../../edge/config";

describe("edge configuration", () => {
  const base = { JWT_PRIVATE_KEY: "k", JWT_PUBLIC_KEY: "k", JWT_ISSUER: "i", JWT_AUDIENCE: "a", R2_ACCESS_KEY_ID: "a", R2_SECRET_ACCESS_KEY: "s", R2_ACCOUNT_ID: "acc" };

  it("names a missing secret", () => {
    expect(() => readConfig({ ...base } as unknown as Env)).toThrow(/DATABASE_URL is not set/);
  });

  it("refuses the local database proxy in production", () => {
    expect(() => readConfig({ ...base, DATABASE_URL: "postgres://x", ENVIRONMENT: "production", DB_LOCAL_PROXY: "127.0.0.1:1" } as unknown as Env)).toThrow(/DB_LOCAL_PROXY/);
  });

  it("needs an R2 account or S3 endpoint, and derives the endpoint from the account", () => {
    const { R2_ACCOUNT_ID: _, ...noAccount } = base;
    expect(() => readConfig({ ...noAccount, DATABASE_URL: "postgres://x" } as unknown as Env)).toThrow(/R2_ACCOUNT_ID is not set/);
    expect(readConfig({ ...base, DATABASE_URL: "postgres://x" } as unknown as Env).s3Endpoint).toBe("https://acc.r2.cloudflarestorage.com");
    expect(readConfig({ ...noAccount, DATABASE_URL: "postgres://x", R2_S3_ENDPOINT: "http://127.0.0.1:8787/_local/s3/" } as unknown as Env).s3Endpoint).toBe(
      "http://127.0.0.1:8787/_local/s3",
    );
  });

  it("checks responses against their schemas only when VALIDATE_RESPONSES is true", () => {
    const read = (VALIDATE_RESPONSES?: string) =>
      readConfig({ ...base, DATABASE_URL: "postgres://x", ...(VALIDATE_RESPONSES === undefined ? {} : { VALIDATE_RESPONSES }) } as unknown as Env);
    expect(read().validateResponses).toBe(false);
    expect(read("false").validateResponses).toBe(false);
    expect(read("true").validateResponses).toBe(true);
    expect(() => read("yes")).toThrow(/VALIDATE_RESPONSES must be true or false/);
  });

  it("refuses the local queue stand-in token in production", () => {
    expect(() => readConfig({ ...base, DATABASE_URL: "postgres://x", ENVIRONMENT: "production", LOCAL_QUEUES_TOKEN: "t" } as unknown as Env)).toThrow(/LOCAL_QUEUES_TOKEN/);
  });

  it("needs Stripe keys in production and refuses the Stripe stand-in there", () => {
    const production = { ...base, DATABASE_URL: "postgres://x", ENVIRONMENT: "production" };
    expect(() => readConfig(production as unknown as Env)).toThrow(/STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET/);
    const keys = { STRIPE_SECRET_KEY: "sk_live_x", STRIPE_WEBHOOK_SECRET: "whsec_x" };
    expect(readConfig({ ...production, ...keys } as unknown as Env).STRIPE_SECRET_KEY).toBe("sk_live_x");
    expect(() => readConfig({ ...production, ...keys, STRIPE_API_BASE: "http://127.0.0.1:12111" } as unknown as Env)).toThrow(/STRIPE_API_BASE/);
  });

  it("reads revenue shares by tier and refuses malformed ones", () => {
    const config = readConfig({ ...base, DATABASE_URL: "postgres://x", REVENUE_SHARE_BPS: "standard:2500, gold:3500" } as unknown as Env);
    expect(config.revenueShare).toEqual({ standard: 2500, gold: 3500 });
    expect(readConfig({ ...base, DATABASE_URL: "postgres://x" } as unknown as Env).revenueShare.platinum).toBe(4000);
    for (const bad of ["gold:3500", "standard:10001", "standard=2500", "standard:25.5"]) {
      expect(() => readConfig({ ...base, DATABASE_URL: "postgres://x", REVENUE_SHARE_BPS: bad } as unknown as Env), bad).toThrow(/REVENUE_SHARE_BPS/);
    }
  });
});
