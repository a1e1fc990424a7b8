import { type Context, Hono } from "hono";
import * as v from "valibot";
import { UPLOAD_CONTENT_TYPES } from "../../../common/images";
import { type ImageStatus, imageStatus } from "../../../db/schema";
import type { AppEnv } from "../../env";
import { decodeCursor } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import { csrfToken } from "../../lib/session-cookies";
import { categoryChoices, editListing, ListingEditSchema, listingForEdit, processingStatus } from "../../services/catalogue/images";
import { listPortfolio, portfolioCounts } from "../../services/catalogue/portfolio";
import { earningsReport } from "../../services/commerce/earnings";
import { payoutSettings, startOnboarding } from "../../services/commerce/payout-accounts";
import { listContributorPayouts } from "../../services/commerce/payout-history";
import { day, money, Notice } from "../components";
import { CsrfField, render } from "../layout";
import { issueMessages, page, visitor } from "../page";
import { EarningsChart, STATUS_LABELS, StatusBadge, StudioNav } from "./studio-parts";

const contributor = page({ access: ["contributor"] });
const STYLES = ["studio.css"];
const viewers = (c: Context<AppEnv>) => ({ config: c.var.config, s3: c.var.s3, urls: c.var.urls });
const PER_PAGE = 48;

/** The listing form's categories and accepted AI tags arrive as repeated fields. */
function allValues(body: Record<string, unknown>, name: string): string[] {
  const value = body[name] ?? body[`${name}[]`];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((item): item is string => typeof item === "string" && item !== "");
}

/** "sea, boat,  harbour" -> ["sea", "boat", "harbour"]. */
const splitKeywords = (text: string) =>
  text
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);

/**
 * The contributor's studio: the dashboard, uploads (studio.js sends the files straight to storage
 * through the API's presigned URLs), each upload's status and listing, the portfolio, earnings and
 * payouts. Every figure and rule comes from the same services the /v1 API uses.
 */
export const studioPages = new Hono<AppEnv>()
  .get("/", contributor, async (c) => {
    const counts = await portfolioCounts(c.var.db, visitor(c).userId);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return render(
      c,
      { title: "Studio", noindex: true, styles: STYLES },
      <section class="studio">
        <h1>Studio</h1>
        <StudioNav current="/studio" />
        <p>
          <a class="button" href="/studio/upload">
            Upload images
          </a>
        </p>
        <h2>Your images</h2>
        <ul class="studio-counts">
          <li>
            <a href="/studio/portfolio">
              <strong data-count="all">{total}</strong> in all
            </a>
          </li>
          {imageStatus.enumValues.map((status) => (
            <li>
              <a href={`/studio/portfolio?status=${status}`}>
                <strong data-count={status}>{counts[status]}</strong> {STATUS_LABELS[status].toLowerCase()}
              </a>
            </li>
          ))}
        </ul>
      </section>,
    );
  })
  .get("/upload", contributor, async (c) => {
    const categories = await categoryChoices(c.var.db);
    return render(
      c,
      { title: "Upload", noindex: true, styles: STYLES, scripts: ["studio.js"] },
      <section class="studio" data-upload>
        <h1>Upload images</h1>
        <StudioNav current="/studio/upload" />
        <div class="dropzone" data-dropzone>
          <p>Drop photographs here ({UPLOAD_CONTENT_TYPES.map((t) => t.replace("image/", "").toUpperCase()).join(", ")}, up to 200 MB each), or</p>
          <label for="upload-files">Choose files</label> <input id="upload-files" type="file" multiple accept={UPLOAD_CONTENT_TYPES.join(",")} data-files />
        </div>
        <noscript>
          <Notice>Uploading needs JavaScript: the files go straight to storage from your browser.</Notice>
        </noscript>
        <p class="upload-summary" role="status" aria-live="polite" data-announce></p>
        <ol class="uploads" data-list></ol>
        <template data-item>
          <li class="upload">
            <h2 data-name>file</h2>
            <div class="upload-row">
              <img class="upload-thumb" alt="" hidden data-thumb />
              <div class="upload-progress">
                <label for="progress">Upload progress</label>
                <progress id="progress" max={100} value={0} data-progress />
                <p class="upload-state" role="status" aria-live="polite">
                  <span class="badge" data-state>
                    Waiting
                  </span>{" "}
                  <span data-reason></span>
                </p>
                <p class="upload-duplicate" hidden data-duplicate>
                  Duplicate of{" "}
                  <a href="/" data-duplicate-link>
                    <img alt="" width={150} height={150} loading="lazy" data-duplicate-img />
                    <span data-duplicate-title></span>
                  </a>
                </p>
                <button type="button" hidden data-retry>
                  Retry
                </button>
              </div>
            </div>
            <form class="upload-meta" data-meta>
              <label for="title">Title</label>
              <input id="title" name="title" required maxlength={200} />
              <label for="description">Description</label>
              <textarea id="description" name="description" rows={2} maxlength={5000}></textarea>
              <label for="keywords">Keywords (comma-separated)</label>
              <input id="keywords" name="keywords" />
              <fieldset hidden data-ai>
                <legend>Suggested tags: tick the ones to add</legend>
                <div class="tags" data-ai-list></div>
              </fieldset>
              <fieldset>
                <legend>Categories (up to 2)</legend>
                <div class="tags">
                  {categories.map((category) => (
                    <label>
                      <input type="checkbox" name="categories" value={category.slug} /> {category.name}
                    </label>
                  ))}
                </div>
              </fieldset>
              <label>
                <input type="checkbox" name="editorial" /> Editorial use only
              </label>
              <p>
                <button type="submit" disabled data-save>
                  Save details
                </button>{" "}
                <span role="status" data-saved></span>
              </p>
            </form>
            <p>
              <a hidden data-open href="/studio/portfolio">
                Open in the studio
              </a>
            </p>
          </li>
        </template>
      </section>,
    );
  })
  .get("/uploads/:id", contributor, async (c) => uploadPage(c))
  .post("/uploads/:id", contributor, async (c) => {
    const id = c.req.param("id");
    const body = await c.req.parseBody({ all: true });
    const text = (name: string) => (typeof body[name] === "string" ? (body[name] as string) : undefined);
    const keywords = [...new Set([...splitKeywords(text("keywords") ?? ""), ...allValues(body, "accept")])];
    const parsed = v.safeParse(ListingEditSchema, {
      title: text("title") ?? "",
      description: text("description") ?? "",
      keywords,
      categories: allValues(body, "categories"),
      editorial: text("editorial") !== undefined,
    });
    if (!parsed.success) {
      return uploadPage(c, issueMessages(parsed.issues).join("; "));
    }
    await editListing({ db: c.var.db, store: c.var.store, log: c.var.log }, id, { ...visitor(c), requestId: c.var.requestId }, parsed.output);
    return c.redirect(`/studio/uploads/${id}?saved=1`, 303);
  })
  .get("/portfolio", contributor, async (c) => {
    const status = c.req.query("status") || undefined;
    if (status !== undefined && !imageStatus.enumValues.includes(status as ImageStatus)) {
      throw new ApiError("validation-failed", `status is one of ${imageStatus.enumValues.join(", ")}`, { errors: [{ path: "status", message: "unknown status" }] });
    }
    const cursor = c.req.query("cursor");
    const portfolio = await listPortfolio(
      c.var.db,
      visitor(c).userId,
      { status: status as ImageStatus | undefined },
      PER_PAGE,
      cursor ? decodeCursor(cursor) : undefined,
      viewers(c),
    );
    const filters: [string | undefined, string][] = [[undefined, "All"], ...imageStatus.enumValues.map((s): [string, string] => [s, STATUS_LABELS[s]])];
    return render(
      c,
      { title: "Portfolio", noindex: true, styles: STYLES },
      <section class="studio">
        <h1>Portfolio</h1>
        <StudioNav current="/studio/portfolio" />
        <nav aria-label="Filter by status">
          <ul class="filters">
            {filters.map(([value, label]) => (
              <li>
                <a href={value ? `/studio/portfolio?status=${value}` : "/studio/portfolio"} aria-current={value === status ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {portfolio.items.length === 0 ? (
          <p class="empty">
            No images {status ? `with the status “${STATUS_LABELS[status as ImageStatus].toLowerCase()}”` : "yet"}. <a href="/studio/upload">Upload some</a>.
          </p>
        ) : (
          <ul class="portfolio" data-portfolio>
            {portfolio.items.map((image) => (
              <li data-image={image.id}>
                {image.thumbnailUrl ? (
                  <img src={image.thumbnailUrl} alt={image.title} width={150} height={150} loading="lazy" decoding="async" />
                ) : (
                  <span class="noimg">No preview</span>
                )}
                <div>
                  <a href={`/studio/uploads/${image.id}`}>{image.title}</a>
                  <StatusBadge status={image.status} stage={image.stage} />
                  <span class="figures">
                    {image.sales} {image.sales === 1 ? "sale" : "sales"} · {money(image.earnedCents)} · {image.views} views
                  </span>
                </div>
              </li>
            ))}
          </ul>
        )}
        {portfolio.nextCursor && (
          <p>
            <a rel="next" href={`/studio/portfolio?${new URLSearchParams({ ...(status ? { status } : {}), cursor: portfolio.nextCursor })}`}>
              More images
            </a>
          </p>
        )}
      </section>,
    );
  })
  .get("/earnings", contributor, async (c) => {
    const report = await earningsReport(c.var.db, visitor(c).userId, {});
    const cur = report.currency;
    return render(
      c,
      { title: "Earnings", noindex: true, styles: STYLES },
      <section class="studio">
        <h1>Earnings</h1>
        <StudioNav current="/studio/earnings" />
        <dl class="balances">
          <div>
            <dt>Pending</dt>
            <dd data-balance="pending">{money(report.totals.pendingCents, cur)}</dd>
          </div>
          <div>
            <dt>Available</dt>
            <dd data-balance="available">{money(report.totals.availableCents, cur)}</dd>
          </div>
          <div>
            <dt>Paid</dt>
            <dd data-balance="paid">{money(report.totals.paidCents, cur)}</dd>
          </div>
        </dl>
        <p class="hint">Pending earnings are held for the refund window; then they become available and are paid with the next payout.</p>
        <h2>By month</h2>
        {report.periods.length === 0 ? (
          <p class="empty">No sales yet.</p>
        ) : (
          <div class="earnings-months">
            <EarningsChart periods={report.periods} currency={cur} />
            <div class="table-wrap">
              <table data-months>
                <caption>Earnings by month</caption>
                <thead>
                  <tr>
                    <th scope="col">Month</th>
                    <th scope="col">Pending</th>
                    <th scope="col">Available</th>
                    <th scope="col">Paid</th>
                  </tr>
                </thead>
                <tbody>
                  {report.periods.map((p) => (
                    <tr>
                      <th scope="row">{p.period}</th>
                      <td>{money(p.pendingCents, cur)}</td>
                      <td>{money(p.availableCents, cur)}</td>
                      <td>{money(p.paidCents, cur)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </div>
        )}
        <h2>By image</h2>
        {report.images.length === 0 ? (
          <p class="empty">No image has sold yet.</p>
        ) : (
          <div class="table-wrap">
            <table data-images>
              <caption>Earnings by image</caption>
              <thead>
                <tr>
                  <th scope="col">Image</th>
                  <th scope="col">Sales</th>
                  <th scope="col">Pending</th>
                  <th scope="col">Available</th>
                  <th scope="col">Paid</th>
                </tr>
              </thead>
              <tbody>
                {report.images.map((row) => (
                  <tr>
                    <th scope="row">
                      <a href={`/studio/uploads/${row.imageId}`}>{row.title}</a>
                    </th>
                    <td>{row.sales}</td>
                    <td>{money(row.pendingCents, cur)}</td>
                    <td>{money(row.availableCents, cur)}</td>
                    <td>{money(row.paidCents, cur)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>,
    );
  })
  .get("/payouts", contributor, async (c) => {
    const userId = visitor(c).userId;
    const cursor = c.req.query("cursor");
    const [settings, history] = await Promise.all([
      payoutSettings(c.var.db, userId),
      listContributorPayouts(c.var.db, userId, PER_PAGE, cursor ? decodeCursor(cursor) : undefined),
    ]);
    return render(
      c,
      { title: "Payouts", noindex: true, styles: STYLES },
      <section class="studio">
        <h1>Payouts</h1>
        <StudioNav current="/studio/payouts" />
        {c.req.query("done") && <Notice kind="ok">Thanks: Stripe will tell us when your payout account is ready.</Notice>}
        <h2>Payout account</h2>
        <p data-payouts-enabled={String(settings.payoutsEnabled)}>
          {settings.payoutsEnabled
            ? "Stripe can pay you: payouts go to your connected account."
            : settings.accountId
              ? "Your Stripe account is not ready for payouts yet: finish the onboarding."
              : "Connect a Stripe account to be paid."}
        </p>
        <OnboardingForm c={c} again={Boolean(settings.accountId)} />
        <h2>Payout history</h2>
        {history.items.length === 0 ? (
          <p class="empty">No payouts yet.</p>
        ) : (
          <div class="table-wrap">
            <table data-payouts>
              <caption>Your payouts, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Period</th>
                  <th scope="col">Amount</th>
                  <th scope="col">Status</th>
                  <th scope="col">Date</th>
                </tr>
              </thead>
              <tbody>
                {history.items.map((p) => (
                  <tr>
                    <th scope="row">{p.period}</th>
                    <td>{money(p.amountCents, p.currency)}</td>
                    <td>
                      {p.status}
                      {p.failureReason ? `: ${p.failureReason}` : ""}
                    </td>
                    <td>{day(p.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {history.nextCursor && (
          <p>
            <a rel="next" href={`/studio/payouts?cursor=${encodeURIComponent(history.nextCursor)}`}>
              Older payouts
            </a>
          </p>
        )}
      </section>,
    );
  })
  .post("/payouts/onboarding", contributor, async (c) => {
    const settings = await startOnboarding({ db: c.var.db, config: c.var.config, urls: c.var.urls }, visitor(c).userId);
    if (!settings.onboardingUrl) throw new ApiError("service-unavailable", "Stripe gave no onboarding link");
    return c.redirect(settings.onboardingUrl, 303);
  });

/** The button that asks Stripe for an onboarding link and sends the browser there. */
async function OnboardingForm({ c, again }: { c: Context<AppEnv>; again: boolean }) {
  const token = await csrfToken(c);
  return (
    <form method="post" action="/studio/payouts/onboarding">
      <CsrfField token={token} />
      <button type="submit">{again ? "Continue Stripe onboarding" : "Set up payouts with Stripe"}</button>
    </form>
  );
}

/** One upload: its status (with the reason and the duplicate), and its listing form with the AI tags to accept. */
async function uploadPage(c: Context<AppEnv>, error?: string) {
  const id = c.req.param("id") ?? "";
  if (!v.is(v.pipe(v.string(), v.uuid()), id)) throw new ApiError("not-found", "no such image");
  const principal = visitor(c);
  const status = await processingStatus({ db: c.var.db, ...viewers(c) }, id, principal);
  const [categories, listing] = await Promise.all([categoryChoices(c.var.db), listingForEdit(c.var.db, id)]);
  const csrf = await csrfToken(c);
  const final = status.status !== "processing";
  const contributorTags = new Set(listing.keywords);
  const suggestions = status.aiTags.filter((t) => !contributorTags.has(t.tag));
  return render(
    c,
    { title: listing.title, noindex: true, styles: STYLES, scripts: final ? [] : ["studio.js"], status: error ? 422 : 200 },
    <section class="studio" data-status-page={final ? undefined : id}>
      <h1>{listing.title}</h1>
      <StudioNav current="" />
      {error && <Notice>{error}</Notice>}
      {c.req.query("saved") && <Notice kind="ok">Saved.</Notice>}
      <div class="upload-row">
        {status.derivatives.thumb450 && <img class="upload-thumb" src={status.derivatives.thumb450} alt={listing.title} width={225} height={225} />}
        <div>
          <p class="upload-state" role="status" aria-live="polite">
            <StatusBadge status={status.status as ImageStatus} stage={status.stage} /> <span>{status.reason ?? ""}</span>
          </p>
          {status.duplicate && (
            <p class="upload-duplicate">
              Duplicate of{" "}
              <a href={`/images/${status.duplicate.imageId}`}>
                {status.duplicate.thumbnailUrl && <img src={status.duplicate.thumbnailUrl} alt="" width={150} height={150} />}
                <span>{status.duplicate.title}</span>
              </a>
            </p>
          )}
        </div>
      </div>
      <form class="upload-meta" method="post" action={`/studio/uploads/${id}`}>
        <CsrfField token={csrf} />
        <label for="title">Title</label>
        <input id="title" name="title" required maxlength={200} value={listing.title} />
        <label for="description">Description</label>
        <textarea id="description" name="description" rows={3} maxlength={5000}>
          {listing.description ?? ""}
        </textarea>
        <label for="keywords">Keywords (comma-separated)</label>
        <input id="keywords" name="keywords" value={listing.keywords.join(", ")} />
        {suggestions.length > 0 && (
          <fieldset>
            <legend>Suggested tags: tick the ones to add</legend>
            <div class="tags">
              {suggestions.map((t) => (
                <label>
                  <input type="checkbox" name="accept" value={t.tag} /> {t.tag}
                </label>
              ))}
            </div>
          </fieldset>
        )}
        <fieldset>
          <legend>Categories (up to 2)</legend>
          <div class="tags">
            {categories.map((category) => (
              <label>
                <input type="checkbox" name="categories" value={category.slug} checked={listing.categories.includes(category.slug)} /> {category.name}
              </label>
            ))}
          </div>
        </fieldset>
        <label>
          <input type="checkbox" name="editorial" checked={listing.editorial} /> Editorial use only
        </label>
        <p>
          <button type="submit">Save details</button>
        </p>
      </form>
    </section>,
  );
}
