import { describe, expect, it } from "vitest";
import { seededRandom } from "../../common/random";
import { creditValueCents, shareBpsFor, splitShare, sumCents } from "../../edge/services/commerce/money";

describe("money rules", () => {
  it("rounds the contributor's share down to a cent and gives the platform the rest", () => {
    expect(splitShare(999, 2500)).toEqual({ contributorCents: 249, platformCents: 750 });
    expect(splitShare(1, 4000)).toEqual({ contributorCents: 0, platformCents: 1 });
    expect(splitShare(0, 3000)).toEqual({ contributorCents: 0, platformCents: 0 });
    expect(splitShare(-999, 2500)).toEqual({ contributorCents: -250, platformCents: -749 });
  });

  it("always sums to the amount, in whole cents, for any amount and share", () => {
    // 20,000 seeded draws (the same every run); the broken cases are collected and compared once,
    // so the check costs microseconds a draw, not an assertion each.
    const random = seededRandom(20_26_12_07);
    const broken: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const gross = Math.floor(random() * 10_000_000);
      const bps = Math.floor(random() * 10_001);
      const { contributorCents, platformCents } = splitShare(gross, bps);
      const exact = (gross * bps) / 10_000;
      const ok =
        Number.isSafeInteger(contributorCents) &&
        Number.isSafeInteger(platformCents) &&
        contributorCents + platformCents === gross &&
        contributorCents <= exact &&
        contributorCents > exact - 1;
      if (!ok) broken.push(`${gross} at ${bps} bps -> ${contributorCents} + ${platformCents}`);
    }
    expect(broken).toEqual([]);
  });

  it("refuses fractional cents and out-of-range shares", () => {
    expect(() => splitShare(9.5, 2500)).toThrow(RangeError);
    expect(() => splitShare(100, 10_001)).toThrow(RangeError);
    expect(() => splitShare(100, 25.5)).toThrow(RangeError);
    expect(() => sumCents([1, 2.5])).toThrow(RangeError);
    expect(sumCents([1, 2, -3, 10])).toBe(10);
  });

  it("values a subscription credit at the plan price over its credits, rounded down", () => {
    expect(creditValueCents(4900, 10)).toBe(490);
    expect(creditValueCents(19900, 750)).toBe(26);
    expect(creditValueCents(1000, 0)).toBe(0);
  });

  it("falls back to the standard share for an unknown tier", () => {
    const tiers = { standard: 2500, gold: 3500 };
    expect(shareBpsFor(tiers, "gold")).toBe(3500);
    expect(shareBpsFor(tiers, "diamond")).toBe(2500);
  });
});
