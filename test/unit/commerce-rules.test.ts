import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { mayLicenseAs, SUBSCRIPTION_LICENSE_TYPES } from "../../edge/services/commerce/license-types";
import { formatMoney } from "../../edge/services/commerce/money";
import { MonthSchema, monthStart, previousMonth } from "../../edge/services/commerce/months";
import { stripeId, stripeTime, stripeTimeOrNull } from "../../edge/services/commerce/stripe-objects";

describe("calendar months (earnings and payout periods)", () => {
  it("accepts YYYY-MM with a real month and refuses anything else", () => {
    for (const month of ["2024-01", "2024-12", "1999-09"]) expect(v.is(MonthSchema, month)).toBe(true);
    for (const bad of ["2024-00", "2024-13", "2024-1", "24-01", "2024-01-01", " 2024-01"]) expect(v.is(MonthSchema, bad)).toBe(false);
  });

  it("starts a month at midnight UTC on the 1st, and steps across a year", () => {
    expect(monthStart("2024-05").toISOString()).toBe("2024-05-01T00:00:00.000Z");
    expect(monthStart("2024-12", 1).toISOString()).toBe("2025-01-01T00:00:00.000Z");
  });

  it("names the month before a date, in UTC, across a year", () => {
    expect(previousMonth(new Date("2025-01-01T00:00:00Z"))).toBe("2024-12");
    expect(previousMonth(new Date("2024-03-31T23:59:59Z"))).toBe("2024-02");
  });
});

describe("license types", () => {
  it("sells an editorial image under the editorial license only, any other image under every type", () => {
    expect(mayLicenseAs({ editorial: true }, "editorial")).toBe(true);
    expect(mayLicenseAs({ editorial: true }, "standard")).toBe(false);
    expect(mayLicenseAs({ editorial: true }, "enhanced")).toBe(false);
    for (const type of ["standard", "enhanced", "editorial"] as const) expect(mayLicenseAs({ editorial: false }, type)).toBe(true);
  });

  it("lets a subscription credit pay for standard and editorial licenses, not enhanced", () => {
    expect([...SUBSCRIPTION_LICENSE_TYPES].sort()).toEqual(["editorial", "standard"]);
  });
});

describe("formatMoney", () => {
  it("shows minor units with the currency's own decimals", () => {
    expect(formatMoney(2900, "usd")).toBe("$29.00");
    expect(formatMoney(2900, "jpy")).toBe("¥2,900");
  });

  it("falls back to two decimals and the code for a currency Intl does not know", () => {
    expect(formatMoney(1234, "zz1")).toBe("12.34 ZZ1");
  });
});

describe("reading Stripe objects", () => {
  it("takes the id of a reference whether Stripe sent the id or the expanded object", () => {
    expect(stripeId("pi_123")).toBe("pi_123");
    expect(stripeId({ id: "pi_123" })).toBe("pi_123");
    expect(stripeId(null)).toBeNull();
    expect(stripeId(undefined)).toBeNull();
  });

  it("reads Unix seconds as a Date, and a missing time as null", () => {
    expect(stripeTime(1_700_000_000).toISOString()).toBe("2023-11-14T22:13:20.000Z");
    expect(stripeTimeOrNull(0)?.toISOString()).toBe("1970-01-01T00:00:00.000Z");
    expect(stripeTimeOrNull(null)).toBeNull();
    expect(stripeTimeOrNull(undefined)).toBeNull();
  });
});
