/**
 * Money is integer cents everywhere. The one rounding rule: the contributor's share of an amount
 * is rounded down to a whole cent and the platform keeps the rest, so the two always add up to the
 * amount exactly (no cent is created or lost), whatever the share.
 *
 * @example splitShare(999, 2500) // { contributorCents: 249, platformCents: 750 }
 */
export function splitShare(grossCents: number, shareBps: number): { contributorCents: number; platformCents: number } {
  if (!Number.isSafeInteger(grossCents)) throw new RangeError(`amount ${grossCents} is not a whole number of cents`);
  if (!Number.isInteger(shareBps) || shareBps < 0 || shareBps > 10_000) throw new RangeError(`share ${shareBps} is not 0-10000 basis points`);
  // Integer arithmetic: gross * bps stays far below 2^53 for any realistic price.
  const contributorCents = Math.floor((grossCents * shareBps) / 10_000);
  return { contributorCents, platformCents: grossCents - contributorCents };
}

/** The contributor's share for a tier; unknown tiers get the standard share. */
export function shareBpsFor(revenueShare: Record<string, number>, tier: string): number {
  return revenueShare[tier] ?? revenueShare.standard ?? 0;
}

/**
 * What one subscription download is worth: the plan price divided by its credits, rounded down to
 * a cent (the remainder stays with the platform). Contributors earn their share of this.
 *
 * @example creditValueCents(4900, 10) // 490
 */
export function creditValueCents(planPriceCents: number, monthlyCredits: number): number {
  if (monthlyCredits <= 0) return 0;
  return Math.floor(planPriceCents / monthlyCredits);
}

/** Adds cents, refusing anything that is not a safe integer (a float here is a bug). */
export function sumCents(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) {
    if (!Number.isSafeInteger(value)) throw new RangeError(`amount ${value} is not a whole number of cents`);
    total += value;
  }
  return total;
}

/**
 * An amount in minor units as people read it, with the currency's own number of decimals.
 *
 * @example formatMoney(2900, "usd") // "$29.00"
 */
export function formatMoney(cents: number, currency: string): string {
  try {
    const format = new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() });
    return format.format(cents / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}
