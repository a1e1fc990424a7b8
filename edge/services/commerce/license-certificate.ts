import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { type CertificateFacts, certificateFacts, type LicenseDeps } from "./licenses";
import { formatMoney } from "./money";

const day = (iso: string) => new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const limit = (value: number | null, unit: string) => (value === null ? "Unlimited" : `Up to ${value.toLocaleString("en-US")} ${unit}`);

const STYLE = raw(
  "body{font:15px/1.5 Georgia,serif;max-width:46rem;margin:2rem auto;padding:0 1.5rem;color:#111}h1{font-size:1.7rem;margin-bottom:0}" +
    ".sub{color:#555;margin-top:.2rem}table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #ddd}" +
    "th{width:12rem;font-weight:normal;color:#555}.revoked{border:3px solid #b00020;color:#b00020;padding:1rem;margin:1rem 0;font-weight:bold}" +
    ".revoked strong{font-size:1.4rem;letter-spacing:.1em}footer{color:#777;font-size:.8rem;margin-top:2rem}@media print{body{margin:0}}",
);

/**
 * The printable certificate of a license: who holds it, for which image, under which terms.
 * hono's `html` escapes every interpolated value, so titles and names cannot inject markup.
 */
export function renderCertificate(license: CertificateFacts): HtmlEscapedString | Promise<HtmlEscapedString> {
  const { terms } = license;
  const revoked = license.revokedAt
    ? html`<div class="revoked" role="alert"><strong>REVOKED</strong><br>This license was revoked on ${day(license.revokedAt)} (${license.revokedAt})${
        license.revokedReason ? html`. Reason: ${license.revokedReason}` : ""
      }. It no longer grants any right to use the image.</div>`
    : "";
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Edgestock license ${license.id}${license.revokedAt ? " (revoked)" : ""}</title>
<style>${STYLE}</style>
</head><body>
<h1>Certificate of License</h1>
<p class="sub">Edgestock ${terms.name}</p>
${revoked}
<table>
<tr><th>License id</th><td><code>${license.id}</code></td></tr>
<tr><th>Licensee</th><td>${license.licensee.name} &lt;${license.licensee.email}&gt;</td></tr>
<tr><th>Image</th><td>${license.imageTitle}<br><code>${license.imageId}</code></td></tr>
<tr><th>Contributor</th><td>${license.contributor.name}</td></tr>
<tr><th>License type</th><td>${terms.name} (<code>${license.licenseType}</code>)</td></tr>
<tr><th>Issued</th><td>${day(license.issuedAt)} (${license.issuedAt})</td></tr>
<tr><th>Price</th><td>${formatMoney(license.priceCents, license.currency)}${license.source === "subscription" ? " (subscription download)" : ""}</td></tr>
<tr><th>Order</th><td>${license.orderId ? html`<code>${license.orderId}</code>` : "None (subscription download)"}</td></tr>
<tr><th>Status</th><td>${license.revokedAt ? "Revoked" : "Active"}</td></tr>
</table>
<h2>Terms</h2>
<p>${terms.summary}</p>
<table>
<tr><th>Printed copies</th><td>${limit(terms.printRunLimit, "copies")}</td></tr>
<tr><th>Digital views</th><td>${limit(terms.digitalViewLimit, "views")}</td></tr>
<tr><th>Merchandise for resale</th><td>${terms.merchandiseForResale ? "Permitted" : "Not permitted"}</td></tr>
<tr><th>Commercial use</th><td>${terms.commercialUse ? "Permitted" : "Not permitted"}</td></tr>
</table>
<h3>Permitted uses</h3>
<ul>${terms.permittedUses.map((use) => html`<li>${use}</li>`)}</ul>
<h3>Prohibited uses</h3>
<ul>${terms.prohibitedUses.map((use) => html`<li>${use}</li>`)}</ul>
<p>The license is non-exclusive, worldwide and perpetual unless revoked, and is not transferable. Copyright stays with the contributor.</p>
<footer>Verify this license with the Edgestock API: GET /v1/licenses/${license.id}</footer>
</body></html>`;
}

/** The certificate of one of the buyer's licenses; anyone else's is a 404. */
export async function certificateOf(deps: LicenseDeps, buyerId: string, licenseId: string): Promise<HtmlEscapedString> {
  return renderCertificate(await certificateFacts(deps, buyerId, licenseId));
}
