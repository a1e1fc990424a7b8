import type { Account, CheckoutSession, LineItem } from "./objects";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** An amount in minor units as the currency writes it: 1999 usd → "$19.99", 500 jpy → "¥500". */
function formatMoney(amount: number, currency: string): string {
  const format = new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase() });
  return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td:last-child{text-align:right}form{display:inline-block;margin:.5rem .5rem 0 0}.note{color:#666;font-size:.9rem}</style>
</head><body><p class="note">Stripe stand-in (test mode, no real money)</p>${body}</body></html>`;
}

function postButton(action: string, label: string, fields: Record<string, string> = {}): string {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join("");
  return `<form method="post" action="${escapeHtml(action)}">${inputs}<button type="submit">${escapeHtml(label)}</button></form>`;
}

/** The hosted checkout page: the items, the total, and buttons that play the customer paying. */
export function checkoutPage(session: CheckoutSession, lineItems: LineItem[]): string {
  const rows = lineItems
    .map((item) => {
      const every = item.price.recurring ? ` / ${item.price.recurring.interval}` : "";
      return `<tr><td>${escapeHtml(item.description)} × ${item.quantity}</td><td>${formatMoney(item.amount_total, item.currency)}${every}</td></tr>`;
    })
    .join("");
  const total = `<tr><td><strong>Total</strong></td><td><strong>${formatMoney(session.amount_total, session.currency)}</strong></td></tr>`;
  const complete = `/checkout/${session.id}/complete`;
  const actions =
    session.status !== "open"
      ? `<p>This checkout is ${escapeHtml(session.status)}.</p>`
      : [
          postButton(complete, "Pay", { outcome: "paid" }),
          session.mode === "payment" ? postButton(complete, "Pay by bank transfer (settles later)", { outcome: "async" }) : "",
          session.cancel_url ? `<p><a href="${escapeHtml(session.cancel_url)}">Cancel and go back</a></p>` : "",
        ].join("");
  return page("Checkout", `<h1>Checkout</h1><table>${rows}${total}</table>${actions}`);
}

/** The Connect onboarding page: one button that finishes onboarding for the account. */
export function onboardingPage(account: Account, returnUrl: string | null): string {
  const action = `/connect/onboard/${account.id}/complete${returnUrl ? `?return_url=${encodeURIComponent(returnUrl)}` : ""}`;
  const status = account.details_submitted ? "<p>Onboarding is already complete.</p>" : "";
  return page(
    "Onboarding",
    `<h1>Set up payouts</h1><p>Account ${escapeHtml(account.id)}${account.email ? ` (${escapeHtml(account.email)})` : ""}</p>${status}${postButton(action, "Finish onboarding")}`,
  );
}
