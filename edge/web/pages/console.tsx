import { type Context, Hono } from "hono";
import type { Child } from "hono/jsx";
import * as v from "valibot";
import { licenseType } from "../../../db/schema";
import type { AppEnv } from "../../env";
import { decodeCursor } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { csrfToken } from "../../lib/session-cookies";
import { type AuditLogEntry, AuditLogQuerySchema, decodeAuditCursor, listAuditLog } from "../../services/admin/audit";
import { describeSwitchCount, type SearchModelStatus, searchModelStatus } from "../../services/admin/health";
import { duplicatesOf, type ModerationAction, ModerationReasonSchema, moderateAndSync, moderationQueue, moderationQueueLength } from "../../services/admin/moderation";
import { MonthSchema, previousMonth } from "../../services/commerce/months";
import { listPayoutPeriods, listPeriodPayouts, payoutReconciliation, runPayoutsAsAdmin } from "../../services/commerce/payouts";
import { listPrices, PriceChangeSchema, setPrice } from "../../services/commerce/prices";
import { day, money, Notice } from "../components";
import { CsrfField, render } from "../layout";
import { formFields, issueMessages, page, visitor } from "../page";

/**
 * The admin console: dashboard, review queue, takedowns, audit log, prices and payout runs. Every
 * action calls the service its /v1/admin route calls (edge/routes/admin.ts, payouts.ts), so state
 * checks, validation and the audit log apply unchanged; forms post, then 303 back with a notice.
 */

const admins = () => page({ access: ["admin"] });
const ImageId = v.object({ id: s.uuid });

const SECTIONS = [
  ["/console", "Dashboard"],
  ["/console/review", "Review queue"],
  ["/console/takedown", "Takedowns"],
  ["/console/audit", "Audit log"],
  ["/console/prices", "Prices"],
  ["/console/payouts", "Payouts"],
] as const;

/** What a redirect after a post tells the admin (`?done=`): fixed sentences, nothing echoed from the request. */
const DONE: Record<string, string> = {
  approved: "Approved: the image is on sale and left the queue.",
  rejected: "Rejected: the contributor sees your reason, and the image left the queue.",
  "taken-down": "Taken down: the image is off search and sale.",
  price: "Price saved and written to the audit log.",
  "payout-run": "Payout run finished; its report is below.",
};

type Problem = { message: string; status: 404 | 409 | 422 };

/** An action the service refused in a way the admin can fix (wrong state, unknown image, invalid input): shown on the page, not as an error page. */
function problemOf(error: unknown): Problem {
  if (error instanceof ApiError && (error.status === 404 || error.status === 409 || error.status === 422)) {
    return { message: error.detail ?? error.message, status: error.status };
  }
  throw error;
}

async function consolePage(c: Context<AppEnv>, title: string, current: string, body: Child, status: 200 | 404 | 409 | 422 = 200) {
  const done = DONE[c.req.query("done") ?? ""];
  return render(
    c,
    { title: `${title} · Console`, noindex: true, styles: ["console.css"], status },
    <div class="console">
      <nav class="console-nav" aria-label="Console">
        {SECTIONS.map(([href, label]) => (
          <a href={href} aria-current={href === current ? "page" : undefined}>
            {label}
          </a>
        ))}
      </nav>
      <section>
        <h1>{title}</h1>
        {done && status === 200 && <Notice kind="ok">{done}</Notice>}
        {body}
      </section>
    </div>,
  );
}

function AuditTable({ entries }: { entries: AuditLogEntry[] }) {
  if (entries.length === 0) return <p class="empty">No entries.</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Action</th>
            <th scope="col">Actor</th>
            <th scope="col">Target</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr>
              <td>
                <time datetime={entry.createdAt}>{entry.createdAt.replace("T", " ").slice(0, 19)}</time>
              </td>
              <td>
                <a href={`/console/audit?action=${encodeURIComponent(entry.action)}`}>{entry.action}</a>
              </td>
              <td>{entry.actorId ? <a href={`/console/audit?actor=${entry.actorId}`}>{entry.actorId.slice(0, 8)}</a> : "system"}</td>
              <td>
                {entry.targetId ? (
                  <a href={`/console/audit?target=${encodeURIComponent(entry.targetId)}`}>
                    {entry.targetType ? `${entry.targetType} ` : ""}
                    {entry.targetId.length > 12 ? entry.targetId.slice(0, 8) : entry.targetId}
                  </a>
                ) : (
                  "—"
                )}
              </td>
              <td class="detail">{entry.detail ? JSON.stringify(entry.detail) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const renditionViewers = (c: Context<AppEnv>) => ({ config: c.var.config, s3: c.var.s3, urls: c.var.urls });
const listingSyncDeps = (c: Context<AppEnv>) => ({ db: c.var.db, env: c.env, config: c.var.config, urls: c.var.urls, log: c.var.log, store: c.var.store });
const by = (c: Context<AppEnv>) => ({ actorId: visitor(c).userId, requestId: c.var.requestId });

/** The same decision the /v1/admin moderation and takedown routes make, with the public bucket synced after it. */
const moderateAs = (c: Context<AppEnv>, imageId: string, action: ModerationAction, detail: { reason?: string }) =>
  moderateAndSync(listingSyncDeps(c), imageId, action, by(c), detail);

// ---- Review queue ----

async function reviewPage(c: Context<AppEnv>, problem?: Problem & { imageId?: string; reason?: string }) {
  const cursor = c.req.query("cursor");
  const parsedCursor = cursor && /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? cursor : undefined;
  let queue: Awaited<ReturnType<typeof moderationQueue>>;
  try {
    queue = await moderationQueue(c.var.db, 20, parsedCursor ? decodeCursor(parsedCursor) : undefined, renditionViewers(c));
  } catch (error) {
    problemOf(error);
    queue = await moderationQueue(c.var.db, 20, undefined, renditionViewers(c));
  }
  const duplicates = await duplicatesOf(
    c.var.db,
    queue.items.flatMap((item) => (item.duplicateOf ? [item.duplicateOf] : [])),
    renditionViewers(c),
  );
  const total = await moderationQueueLength(c.var.db);
  const csrf = await csrfToken(c);
  return consolePage(
    c,
    "Review queue",
    "/console/review",
    <>
      {problem && <Notice>{problem.message}</Notice>}
      <p class="muted">{total === 1 ? "1 image waits" : `${total} images wait`} for review, oldest first.</p>
      {queue.items.length === 0 && <p class="empty">Nothing to review.</p>}
      <ol class="queue">
        {queue.items.map((item, index) => {
          const duplicate = item.duplicateOf ? duplicates.get(item.duplicateOf) : undefined;
          const image = item.previewUrl ?? item.thumbnailUrl;
          const mine = problem?.imageId === item.id;
          return (
            <li class="review" id={`item-${item.id}`}>
              <h2>{item.title}</h2>
              <div class="sides">
                <figure>
                  {image ? (
                    <img src={image} alt={item.title} width={600} height={600} loading={index === 0 ? "eager" : "lazy"} decoding="async" />
                  ) : (
                    <span class="noimg">No preview yet</span>
                  )}
                  <figcaption>Held image</figcaption>
                </figure>
                {item.duplicateOf && (
                  <figure class="duplicate">
                    {duplicate?.thumbnailUrl ? (
                      <img src={duplicate.thumbnailUrl} alt={duplicate.title} width={450} height={450} loading={index === 0 ? "eager" : "lazy"} decoding="async" />
                    ) : (
                      <span class="noimg">{duplicate?.title ?? "Image no longer exists"}</span>
                    )}
                    <figcaption>
                      Near-duplicate of{" "}
                      {duplicate ? (
                        <>
                          <a href={`/images/${duplicate.id}`}>{duplicate.title}</a> by {duplicate.contributor} ({duplicate.status.replace("_", " ")})
                        </>
                      ) : (
                        item.duplicateOf
                      )}
                    </figcaption>
                  </figure>
                )}
              </div>
              <dl class="facts">
                <dt>Contributor</dt>
                <dd>{item.contributor.displayName}</dd>
                <dt>NSFW score</dt>
                <dd>{item.nsfwScore === null ? "not scored" : item.nsfwScore.toFixed(2)}</dd>
                <dt>Held because</dt>
                <dd>{item.statusReason ?? "no reason recorded"}</dd>
                <dt>Editorial</dt>
                <dd>{item.editorial ? "yes" : "no"}</dd>
                <dt>Submitted</dt>
                <dd>{day(item.createdAt)}</dd>
              </dl>
              <div class="actions">
                <form method="post" action={`/console/review/${item.id}/approve`}>
                  <CsrfField token={csrf} />
                  <button type="submit" aria-label={`Approve ${item.title}`}>
                    Approve
                  </button>
                </form>
                <form method="post" action={`/console/review/${item.id}/reject`} class="reject">
                  <CsrfField token={csrf} />
                  <label for={`reason-${item.id}`}>Reason for rejecting (shown to the contributor)</label>
                  <input
                    id={`reason-${item.id}`}
                    name="reason"
                    required
                    minlength={3}
                    maxlength={500}
                    value={mine ? (problem?.reason ?? "") : ""}
                    aria-invalid={mine ? "true" : undefined}
                  />
                  <button type="submit" class="danger" aria-label={`Reject ${item.title}`}>
                    Reject
                  </button>
                </form>
              </div>
            </li>
          );
        })}
      </ol>
      {queue.nextCursor && (
        <nav class="pager" aria-label="Queue pages">
          <a href={`/console/review?cursor=${queue.nextCursor}`}>Next page</a>
        </nav>
      )}
    </>,
    problem?.status ?? 200,
  );
}

// ---- Takedowns ----

async function takedownPage(c: Context<AppEnv>, problem?: Problem, values: { imageId?: string; reason?: string } = {}) {
  const recent = await listAuditLog(c.var.db, { action: "moderation.takedown" }, 20, undefined);
  const csrf = await csrfToken(c);
  return consolePage(
    c,
    "Takedowns",
    "/console/takedown",
    <>
      {problem && <Notice>{problem.message}</Notice>}
      <p class="muted">An approved image taken down leaves search and sale; licences already sold stay on record.</p>
      <form method="post" action="/console/takedown" class="stack console-form">
        <CsrfField token={csrf} />
        <label>
          Image id
          <input name="imageId" required value={values.imageId ?? c.req.query("imageId") ?? ""} pattern="[0-9a-fA-F-]{36}" autocomplete="off" />
        </label>
        <label>
          Reason (shown to the contributor)
          <textarea name="reason" required minlength={3} maxlength={500} rows={3}>
            {values.reason ?? ""}
          </textarea>
        </label>
        <button type="submit" class="danger">
          Take down
        </button>
      </form>
      <h2>Recent takedowns</h2>
      <AuditTable entries={recent.items} />
    </>,
    problem?.status ?? 200,
  );
}

// ---- Audit log ----

async function auditPage(c: Context<AppEnv>) {
  const raw = { action: c.req.query("action"), actorId: c.req.query("actor"), targetId: c.req.query("target"), cursor: c.req.query("cursor") };
  const query = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined && value !== "")) as Record<string, string>;
  const parsed = v.safeParse(AuditLogQuerySchema, query);
  let entries: AuditLogEntry[] = [];
  let next: string | null = null;
  let problem: Problem | undefined;
  if (parsed.success) {
    const { limit, cursor, ...filter } = parsed.output;
    try {
      const result = await listAuditLog(c.var.db, filter, limit, cursor ? decodeAuditCursor(cursor) : undefined);
      entries = result.items;
      next = result.nextCursor;
    } catch (error) {
      problem = problemOf(error);
    }
  } else {
    problem = { message: `Check the filters: ${issueMessages(parsed.issues).join("; ")}`, status: 422 };
  }
  const keep = new URLSearchParams();
  if (raw.actorId) keep.set("actor", raw.actorId);
  if (raw.action) keep.set("action", raw.action);
  if (raw.targetId) keep.set("target", raw.targetId);
  if (next) keep.set("cursor", next);
  return consolePage(
    c,
    "Audit log",
    "/console/audit",
    <>
      {problem && <Notice>{problem.message}</Notice>}
      <form method="get" action="/console/audit" class="filters">
        <label>
          Action
          <input name="action" value={raw.action ?? ""} placeholder="moderation.reject" maxlength={100} />
        </label>
        <label>
          Actor id
          <input name="actor" value={raw.actorId ?? ""} autocomplete="off" />
        </label>
        <label>
          Target id
          <input name="target" value={raw.targetId ?? ""} maxlength={200} autocomplete="off" />
        </label>
        <button type="submit">Filter</button>
        <a href="/console/audit">Clear</a>
      </form>
      <AuditTable entries={entries} />
      {next && (
        <nav class="pager" aria-label="Audit log pages">
          <a href={`/console/audit?${keep}`}>Older entries</a>
        </nav>
      )}
    </>,
    problem?.status ?? 200,
  );
}

// ---- Prices ----

async function pricesPage(c: Context<AppEnv>, problem?: Problem, values: Record<string, string> = {}) {
  const cursor = c.req.query("cursor");
  let list: Awaited<ReturnType<typeof listPrices>>;
  try {
    list = await listPrices(c.var.db, {}, 50, cursor ? decodeCursor(cursor) : undefined);
  } catch (error) {
    problem ??= problemOf(error);
    list = await listPrices(c.var.db, {}, 50, undefined);
  }
  const csrf = await csrfToken(c);
  return consolePage(
    c,
    "Prices",
    "/console/prices",
    <>
      {problem && <Notice>{problem.message}</Notice>}
      <h2>Marketplace defaults</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Licence</th>
              <th scope="col">Currency</th>
              <th scope="col">Price</th>
              <th scope="col">Changed</th>
            </tr>
          </thead>
          <tbody>
            {list.defaults.map((price) => (
              <tr>
                <td>{price.licenseType}</td>
                <td>{price.currency}</td>
                <td>{money(price.amountCents, price.currency)}</td>
                <td>{day(price.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Change a price</h2>
      <form method="post" action="/console/prices" class="stack console-form">
        <CsrfField token={csrf} />
        <label>
          Licence
          <select name="licenseType" required>
            {licenseType.enumValues.map((type) => (
              <option value={type} selected={values.licenseType === type}>
                {type}
              </option>
            ))}
          </select>
        </label>
        <label>
          Amount in cents (4900 is 49.00)
          <input name="amountCents" type="number" required min={1} max={10_000_000} step={1} inputmode="numeric" value={values.amountCents ?? ""} />
        </label>
        <label>
          Currency (ISO 4217, lower case)
          <input name="currency" value={values.currency ?? "usd"} pattern="[a-z]{3}" maxlength={3} required />
        </label>
        <label>
          Image id (empty for the marketplace default)
          <input name="imageId" value={values.imageId ?? ""} autocomplete="off" />
        </label>
        <button type="submit">Save price</button>
      </form>
      <h2>Prices of single images</h2>
      {list.overrides.length === 0 ? (
        <p class="empty">No image has its own price.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Image</th>
                <th scope="col">Licence</th>
                <th scope="col">Price</th>
                <th scope="col">Active</th>
              </tr>
            </thead>
            <tbody>
              {list.overrides.map((price) => (
                <tr>
                  <td>{price.imageId ? <a href={`/images/${price.imageId}`}>{price.imageTitle}</a> : price.imageTitle}</td>
                  <td>{price.licenseType}</td>
                  <td>{money(price.amountCents, price.currency)}</td>
                  <td>{price.active ? "yes" : "no"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.nextCursor && (
        <nav class="pager" aria-label="Price pages">
          <a href={`/console/prices?cursor=${list.nextCursor}`}>More image prices</a>
        </nav>
      )}
    </>,
    problem?.status ?? 200,
  );
}

// ---- Payouts ----

async function payoutsPage(c: Context<AppEnv>, problem?: Problem) {
  const requested = c.req.query("period");
  const period = requested && v.is(MonthSchema, requested) ? requested : undefined;
  const [runs, periods] = await Promise.all([listAuditLog(c.var.db, { action: "payout.run" }, 24, undefined), listPayoutPeriods(c.var.db)]);
  const shown = period ?? periods[0]?.period ?? runs.items[0]?.targetId ?? undefined;
  const csrf = await csrfToken(c);
  let report: Awaited<ReturnType<typeof payoutReconciliation>> | undefined;
  let payouts: Awaited<ReturnType<typeof listPeriodPayouts>>["items"] = [];
  let reportProblem: string | undefined;
  if (shown && v.is(MonthSchema, shown)) {
    payouts = (await listPeriodPayouts(c.var.db, shown)).items;
    try {
      report = await payoutReconciliation({ db: c.var.db, config: c.var.config }, shown);
    } catch (error) {
      c.var.log.warn("payout reconciliation failed", { error });
      reportProblem = "The reconciliation could not reach Stripe; try again.";
    }
  }
  const failures = new Map(payouts.map((p) => [p.id, p.failureReason]));
  return consolePage(
    c,
    "Payouts",
    "/console/payouts",
    <>
      {problem && <Notice>{problem.message}</Notice>}
      {requested && !period && <Notice>The period must be a month, YYYY-MM.</Notice>}
      <form method="post" action="/console/payouts/run" class="filters">
        <CsrfField token={csrf} />
        <label>
          Period to pay (YYYY-MM)
          <input name="period" value={previousMonth(new Date())} pattern="\d{4}-\d{2}" required />
        </label>
        <button type="submit">Run payouts</button>
      </form>
      <p class="muted">A run is safe to repeat: it pays each contributor once per period. The monthly Cron Trigger runs it for the month before.</p>
      <h2>Periods paid</h2>
      <form method="get" action="/console/payouts" class="filters">
        <label>
          Show the report of period (YYYY-MM)
          <input name="period" value={shown ?? ""} pattern="\d{4}-\d{2}" required />
        </label>
        <button type="submit">Show report</button>
      </form>
      {periods.length === 0 ? (
        <p class="empty">No payouts yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Period</th>
                <th scope="col">Payouts</th>
                <th scope="col">Total</th>
                <th scope="col">Paid</th>
                <th scope="col">Failed</th>
                <th scope="col">Pending</th>
              </tr>
            </thead>
            <tbody>
              {periods.map((p) => (
                <tr>
                  <td>
                    <a href={`/console/payouts?period=${p.period}`} aria-current={p.period === shown ? "true" : undefined}>
                      {p.period}
                    </a>
                  </td>
                  <td>{p.payouts}</td>
                  <td>{money(p.amountCents)}</td>
                  <td>{p.paid}</td>
                  <td>{p.failed}</td>
                  <td>{p.pending}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Runs by admins</h2>
      {runs.items.length === 0 ? (
        <p class="empty">No payout run by an admin yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Period</th>
                <th scope="col">Created</th>
                <th scope="col">Transferred</th>
                <th scope="col">Failed</th>
                <th scope="col">Mismatches</th>
              </tr>
            </thead>
            <tbody>
              {runs.items.map((run) => {
                const d = (run.detail ?? {}) as Record<string, unknown>;
                return (
                  <tr>
                    <td>{run.createdAt.replace("T", " ").slice(0, 16)}</td>
                    <td>
                      <a href={`/console/payouts?period=${encodeURIComponent(run.targetId ?? "")}`}>{run.targetId}</a>
                    </td>
                    <td>{String(d.created ?? "")}</td>
                    <td>{String(Number(d.transferred ?? 0) + Number(d.adopted ?? 0))}</td>
                    <td>{String(d.failed ?? "")}</td>
                    <td>{String(d.mismatches ?? "")}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {shown && (
        <>
          <h2>Reconciliation report for {shown}</h2>
          {reportProblem && <Notice>{reportProblem}</Notice>}
          {report && (
            <p class={report.mismatches.length > 0 ? "notice error" : "notice ok"}>
              {report.payouts.length} payouts;{" "}
              {report.mismatches.length === 0 ? "every payout matches its earnings and its transfer." : `${report.mismatches.length} do not match their earnings or transfer.`}
            </p>
          )}
          {payouts.length === 0 ? (
            <p class="empty">No payouts in this period.</p>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Payout</th>
                    <th scope="col">Contributor</th>
                    <th scope="col">Amount</th>
                    <th scope="col">Status</th>
                    <th scope="col">Transfer</th>
                    <th scope="col">Reconciliation</th>
                  </tr>
                </thead>
                <tbody>
                  {payouts.map((p) => {
                    const mismatch = report?.mismatches.find((m) => m.payoutId === p.id);
                    return (
                      <tr>
                        <td>{p.id.slice(0, 8)}</td>
                        <td>{p.contributorId.slice(0, 8)}</td>
                        <td>{money(p.amountCents, p.currency)}</td>
                        <td>
                          {p.status}
                          {failures.get(p.id) ? `: ${failures.get(p.id)}` : ""}
                        </td>
                        <td>{p.stripeTransferId ?? "—"}</td>
                        <td>
                          {!report
                            ? "unknown"
                            : mismatch
                              ? `mismatch: earnings ${money(mismatch.earningsCents)}, transfer ${mismatch.transferCents === null ? "none" : money(mismatch.transferCents)}`
                              : "matches"}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>,
    problem?.status ?? 200,
  );
}

/** The console's line on the CLIP model: its width, or the switch under way and how far it has got. */
function modelNote(status: SearchModelStatus): string {
  if (!status.active) return "no GPU worker has loaded a CLIP model: search is by keywords";
  if (!status.building) return `${status.active.dimensions} dimensions`;
  return `switching to ${status.building.model}${status.progress ? `: ${describeSwitchCount(status.progress)}` : ""}`;
}

// ---- Routes ----

export const consolePages = new Hono<AppEnv>()
  .get("/", admins(), async (c) => {
    const [queueLength, recent, lastRun, lastTakedowns, model] = await Promise.all([
      moderationQueueLength(c.var.db),
      listAuditLog(c.var.db, {}, 8, undefined),
      listAuditLog(c.var.db, { action: "payout.run" }, 1, undefined),
      listAuditLog(c.var.db, { action: "moderation.takedown" }, 1, undefined),
      searchModelStatus(c.var.db),
    ]);
    const run = lastRun.items[0];
    return consolePage(
      c,
      "Console",
      "/console",
      <>
        <ul class="cards stats">
          <li class="card">
            <a href="/console/review">Review queue</a>
            <strong>{queueLength}</strong>
            <span class="muted">{queueLength === 1 ? "image waits" : "images wait"}</span>
          </li>
          <li class="card">
            <a href="/console/payouts">Last payout run</a>
            <strong>{run ? run.targetId : "none"}</strong>
            <span class="muted">{run ? `run ${day(run.createdAt)}` : "no run by an admin yet"}</span>
          </li>
          <li class="card">
            <a href="/console/takedown">Last takedown</a>
            <strong>{lastTakedowns.items[0] ? day(lastTakedowns.items[0].createdAt) : "none"}</strong>
            <span class="muted">take an image down by id</span>
          </li>
          <li class="card">
            <a href="/console/prices">Prices</a>
            <span class="muted">licence prices and per-image prices</span>
          </li>
          <li class="card">
            <span>Search model</span>
            <strong>{model.active ? model.active.model : "none yet"}</strong>
            <span class="muted">{modelNote(model)}</span>
          </li>
        </ul>
        <h2>Recent audit entries</h2>
        <AuditTable entries={recent.items} />
        <p>
          <a href="/console/audit">The whole audit log</a>
        </p>
      </>,
    );
  })
  .get("/review", admins(), (c) => reviewPage(c))
  .post("/review/:id/approve", admins(), async (c) => {
    const param = v.safeParse(ImageId, { id: c.req.param("id") });
    if (!param.success) throw new ApiError("not-found", "no image with this id");
    try {
      await moderateAs(c, param.output.id, "approve", {});
    } catch (error) {
      return reviewPage(c, problemOf(error));
    }
    return c.redirect("/console/review?done=approved", 303);
  })
  .post("/review/:id/reject", admins(), async (c) => {
    const param = v.safeParse(ImageId, { id: c.req.param("id") });
    if (!param.success) throw new ApiError("not-found", "no image with this id");
    const fields = await formFields(c);
    const reason = v.safeParse(ModerationReasonSchema, fields.reason ?? "");
    if (!reason.success) {
      return reviewPage(c, { message: `Give a reason to reject: it ${reason.issues[0]?.message ?? "is required"}.`, status: 422, imageId: param.output.id, reason: fields.reason });
    }
    try {
      await moderateAs(c, param.output.id, "reject", { reason: reason.output });
    } catch (error) {
      return reviewPage(c, { ...problemOf(error), imageId: param.output.id, reason: fields.reason });
    }
    return c.redirect("/console/review?done=rejected", 303);
  })
  .get("/takedown", admins(), (c) => takedownPage(c))
  .post("/takedown", admins(), async (c) => {
    const fields = await formFields(c);
    const parsed = v.safeParse(v.object({ imageId: s.uuid, reason: ModerationReasonSchema }), { imageId: fields.imageId ?? "", reason: fields.reason ?? "" });
    if (!parsed.success) return takedownPage(c, { message: `Check the form: ${issueMessages(parsed.issues).join("; ")}`, status: 422 }, fields);
    try {
      await moderateAs(c, parsed.output.imageId, "takedown", { reason: parsed.output.reason });
    } catch (error) {
      return takedownPage(c, problemOf(error), fields);
    }
    return c.redirect("/console/takedown?done=taken-down", 303);
  })
  .get("/audit", admins(), (c) => auditPage(c))
  .get("/prices", admins(), (c) => pricesPage(c))
  .post("/prices", admins(), async (c) => {
    const fields = await formFields(c);
    const amount = fields.amountCents?.trim() ?? "";
    const change = {
      licenseType: fields.licenseType ?? "",
      amountCents: /^-?\d+(\.\d+)?$/.test(amount) ? Number(amount) : Number.NaN,
      ...(fields.currency?.trim() ? { currency: fields.currency.trim() } : {}),
      ...(fields.imageId?.trim() ? { imageId: fields.imageId.trim() } : {}),
    };
    const parsed = v.safeParse(PriceChangeSchema, change);
    if (!parsed.success) return pricesPage(c, { message: `Check the form: ${issueMessages(parsed.issues).join("; ")}`, status: 422 }, fields);
    try {
      await setPrice(c.var.db, parsed.output, by(c));
    } catch (error) {
      return pricesPage(c, problemOf(error), fields);
    }
    return c.redirect("/console/prices?done=price", 303);
  })
  .get("/payouts", admins(), (c) => payoutsPage(c))
  .post("/payouts/run", admins(), async (c) => {
    const fields = await formFields(c);
    // The form always names the period (the API defaults to last month; a form posted empty must not pay anyone).
    const period = v.safeParse(MonthSchema, fields.period?.trim() ?? "");
    if (!period.success) return payoutsPage(c, { message: "The period must be a month, YYYY-MM.", status: 422 });
    const report = await runPayoutsAsAdmin({ db: c.var.db, config: c.var.config, log: c.var.log }, { period: period.output }, by(c));
    return c.redirect(`/console/payouts?period=${report.period}&done=payout-run`, 303);
  });
