import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../../env";
import { API_KEY_SCOPES } from "../../lib/principal";
import { ApiError } from "../../lib/problem";
import { ALL_ROLES } from "../../lib/route";
import * as s from "../../lib/schemas";
import { csrfToken } from "../../lib/session-cookies";
import { AUTH_LIMITS, clientIp, rateLimit } from "../../middleware/rate-limit";
import { ApiKeyRequestSchema, type ApiKeyView, createApiKey, listApiKeys, type NewApiKey, revokeApiKey } from "../../services/accounts/api-keys";
import { currentUser } from "../../services/accounts/users";
import { checkoutSubscription } from "../../services/commerce/checkout";
import { authorizeDownload } from "../../services/commerce/downloads";
import { getLicense, type LicenseView, listLicenses, takenDownImageIds } from "../../services/commerce/licenses";
import { getOrder, listOrders } from "../../services/commerce/orders";
import { listPlans, subscriptionStatus } from "../../services/commerce/plans";
import { day, money, Notice } from "../components";
import { CsrfField, render } from "../layout";
import { formFields, issueMessages, page, visitor } from "../page";
import { AccountNav, OrderBadge, OrderDetail, Pager, pageQuery, parseForm } from "./account-parts";

/**
 * The account pages: overview, licences (certificates and downloads), orders, subscription and
 * credits, API keys. Each calls the service its /v1 route calls (licenses, downloads, orders,
 * plans, checkout, api-keys); buying and downloading are for buyer accounts, as in the API, and
 * API keys for everyone.
 */

const BUYERS = ["buyer"] as const;
const STYLES = ["account.css"];

const IdParam = v.object({ id: s.uuid });
const idParam = (c: Context<AppEnv>) => parseForm(IdParam, { id: c.req.param("id") }, "This link is not valid").id;

/** The account pages' own navigation. */
/** Why a licence no longer lets its holder download, or null when it does. */
function noDownloadReason(license: LicenseView, takenDown: Set<string>): string | null {
  if (license.revokedAt) return `Revoked on ${day(license.revokedAt)}${license.revokedReason ? ` (${license.revokedReason})` : ""}: this licence no longer grants any use.`;
  if (takenDown.has(license.imageId)) return "The image was taken down and can no longer be downloaded.";
  return null;
}

function LicenseCard({ license, takenDown, csrf }: { license: LicenseView; takenDown: Set<string>; csrf: string }) {
  const reason = noDownloadReason(license, takenDown);
  return (
    <li class="card license" id={`license-${license.id}`}>
      {license.thumbnailUrl ? (
        <img src={license.thumbnailUrl} alt={license.imageTitle} width={96} height={96} loading="lazy" decoding="async" />
      ) : (
        <span class="thumb" aria-hidden="true" />
      )}
      <div class="grow">
        <h2>
          <a href={`/images/${license.imageId}`}>{license.imageTitle}</a>
        </h2>
        <p class="muted">
          {license.terms.name} · issued {day(license.issuedAt)} · {license.source === "order" ? money(license.priceCents, license.currency) : "subscription credit"}
          {license.orderId && (
            <>
              {" "}
              · <a href={`/account/orders/${license.orderId}`}>order</a>
            </>
          )}
        </p>
        <p class="small">{license.terms.summary}</p>
        {reason && <Notice>{reason}</Notice>}
        <p class="actions">
          <a href={license.certificateUrl}>
            Certificate<span class="sr"> for {license.imageTitle}</span>
          </a>
          {!reason && (
            <form method="post" action={`/account/licenses/${license.id}/download`} class="inline">
              <CsrfField token={csrf} />
              <button type="submit">
                Download<span class="sr"> {license.imageTitle}</span>
              </button>
            </form>
          )}
        </p>
      </div>
    </li>
  );
}

function ApiKeyRow({ apiKey, csrf }: { apiKey: ApiKeyView; csrf: string }) {
  return (
    <tr>
      <td>{apiKey.name}</td>
      <td>
        <code>{apiKey.prefix}…</code>
      </td>
      <td>{apiKey.scopes.join(", ")}</td>
      <td>{day(apiKey.createdAt)}</td>
      <td>{apiKey.lastUsedAt ? day(apiKey.lastUsedAt) : "never"}</td>
      <td>
        {apiKey.revokedAt ? (
          <span class="muted">Revoked {day(apiKey.revokedAt)}</span>
        ) : (
          <form method="post" action={`/account/api-keys/${apiKey.id}/revoke`} class="inline">
            <CsrfField token={csrf} />
            <button type="submit" class="danger">
              Revoke<span class="sr"> {apiKey.name}</span>
            </button>
          </form>
        )}
      </td>
    </tr>
  );
}

async function apiKeysPage(c: Context<AppEnv>, options: { created?: NewApiKey; error?: string; name?: string; status?: 200 | 201 | 409 | 422 } = {}) {
  const principal = visitor(c);
  const { limit, after } = pageQuery(c);
  const keys = await listApiKeys(c.var.db, principal.userId, limit, after);
  const csrf = await csrfToken(c);
  return render(
    c,
    { title: "API keys", noindex: true, styles: STYLES, status: options.status ?? 200 },
    <section class="buyer">
      <h1>API keys</h1>
      <AccountNav role={principal.role} current="/account/api-keys" />
      {options.created && (
        <div class="notice ok secret" role="status">
          <p>
            Key <strong>{options.created.apiKey.name}</strong> created. Copy its secret now: it is shown this once only.
          </p>
          <label>
            Secret
            <input readonly value={options.created.secret} class="mono" />
          </label>
        </div>
      )}
      {options.error && <Notice>{options.error}</Notice>}
      <p>
        Your systems call the <a href="/v1/docs">Edgestock API</a> with a key in the <code>Authorization: Bearer</code> header. A key can do only what its scopes allow.
      </p>
      {keys.items.length === 0 ? (
        <p class="empty">No API keys yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="sr">Your API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="sr">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.items.map((apiKey) => (
                <ApiKeyRow apiKey={apiKey} csrf={csrf} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager path="/account/api-keys" nextCursor={keys.nextCursor} />
      <h2>Create a key</h2>
      <form method="post" action="/account/api-keys" class="stack narrow-form">
        <CsrfField token={csrf} />
        <label>
          Name
          <input name="name" required maxlength={80} value={options.name ?? ""} />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {API_KEY_SCOPES.map((scope) => (
            <label class="choice">
              <input type="checkbox" name="scopes" value={scope} /> {scope}
            </label>
          ))}
        </fieldset>
        <button type="submit">Create key</button>
      </form>
    </section>,
  );
}

export const accountPages = new Hono<AppEnv>()
  .get("/account", page({ access: ALL_ROLES }), async (c) => {
    const principal = visitor(c);
    const { user } = await currentUser(c.var.db, principal.userId);
    return render(
      c,
      { title: "Your account", noindex: true, styles: STYLES },
      <section class="buyer">
        <h1>Your account</h1>
        <AccountNav role={principal.role} current="/account" />
        <dl class="facts">
          <dt>Name</dt>
          <dd>{user.displayName}</dd>
          <dt>Email</dt>
          <dd>{user.email}</dd>
          <dt>Account</dt>
          <dd>{user.role}</dd>
        </dl>
        <ul class="cards">
          {principal.role === "buyer" && (
            <>
              <li class="card">
                <h2>
                  <a href="/account/licenses">Licences and downloads</a>
                </h2>
                <p>Download the images you licensed and print their certificates.</p>
              </li>
              <li class="card">
                <h2>
                  <a href="/account/orders">Orders</a>
                </h2>
                <p>What you bought, when, and what it cost.</p>
              </li>
              <li class="card">
                <h2>
                  <a href="/account/subscription">Subscription</a>
                </h2>
                <p>Monthly download credits: plans and the credits you have left.</p>
              </li>
              <li class="card">
                <h2>
                  <a href="/cart">Cart</a>
                </h2>
                <p>Images waiting to be checked out.</p>
              </li>
            </>
          )}
          {principal.role === "contributor" && (
            <li class="card">
              <h2>
                <a href="/studio">Studio</a>
              </h2>
              <p>Uploads, portfolio, earnings and payouts.</p>
            </li>
          )}
          {principal.role === "admin" && (
            <li class="card">
              <h2>
                <a href="/console">Console</a>
              </h2>
              <p>Review queue, takedowns, prices and payouts.</p>
            </li>
          )}
          <li class="card">
            <h2>
              <a href="/account/api-keys">API keys</a>
            </h2>
            <p>Keys for your own systems to call the API.</p>
          </li>
        </ul>
      </section>,
    );
  })
  .get("/account/licenses", page({ access: BUYERS }), async (c) => {
    const principal = visitor(c);
    const { limit, after } = pageQuery(c);
    const licenses = await listLicenses({ db: c.var.db, urls: c.var.urls }, principal.userId, {}, limit, after);
    const takenDown = await takenDownImageIds(
      c.var.db,
      licenses.items.map((l) => l.imageId),
    );
    const csrf = await csrfToken(c);
    return render(
      c,
      { title: "Your licences", noindex: true, styles: STYLES },
      <section class="buyer">
        <h1>Your licences</h1>
        <AccountNav role={principal.role} current="/account/licenses" />
        {licenses.items.length === 0 ? (
          <p class="empty">
            No licences yet. <a href="/search">Find images</a> to license.
          </p>
        ) : (
          <ul class="licenses">
            {licenses.items.map((license) => (
              <LicenseCard license={license} takenDown={takenDown} csrf={csrf} />
            ))}
          </ul>
        )}
        <Pager path="/account/licenses" nextCursor={licenses.nextCursor} />
      </section>,
    );
  })
  .post("/account/licenses/:id/download", page({ access: BUYERS }), async (c) => {
    const principal = visitor(c);
    // The licence must be this buyer's (another's is a 404, as in the API); the download service
    // then checks it still grants (not revoked, image not taken down) and signs the URL.
    const license = await getLicense({ db: c.var.db, urls: c.var.urls }, principal.userId, idParam(c));
    const ticket = await authorizeDownload({ db: c.var.db, config: c.var.config, s3: c.var.s3 }, principal, license.imageId, license.id, {
      ip: clientIp(c),
      userAgent: c.req.header("user-agent") ?? null,
    });
    c.header("cache-control", "no-store");
    return c.redirect(ticket.url, 303);
  })
  .get("/account/orders", page({ access: BUYERS }), async (c) => {
    const principal = visitor(c);
    const { limit, after } = pageQuery(c);
    const orders = await listOrders(c.var.db, principal.userId, limit, after);
    return render(
      c,
      { title: "Your orders", noindex: true, styles: STYLES },
      <section class="buyer">
        <h1>Your orders</h1>
        <AccountNav role={principal.role} current="/account/orders" />
        {orders.items.length === 0 ? (
          <p class="empty">No orders yet.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="sr">Your orders, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Items</th>
                  <th scope="col">Status</th>
                  <th scope="col">Total</th>
                </tr>
              </thead>
              <tbody>
                {orders.items.map((order) => (
                  <tr>
                    <td>
                      <a href={`/account/orders/${order.id}`}>{day(order.createdAt)}</a>
                    </td>
                    <td>{order.items.map((item) => item.title).join(", ")}</td>
                    <td>
                      <OrderBadge status={order.status} />
                    </td>
                    <td>{money(order.totalCents, order.currency)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager path="/account/orders" nextCursor={orders.nextCursor} />
      </section>,
    );
  })
  .get("/account/orders/:id", page({ access: BUYERS }), async (c) => {
    const principal = visitor(c);
    const order = await getOrder(c.var.db, principal.userId, idParam(c));
    return render(
      c,
      { title: "Order", noindex: true, styles: STYLES },
      <section class="buyer">
        <h1>Order</h1>
        <AccountNav role={principal.role} current="/account/orders" />
        <OrderDetail order={order} />
      </section>,
    );
  })
  .get("/account/subscription", page({ access: BUYERS }), async (c) => {
    const principal = visitor(c);
    const [{ subscription }, { plans }] = await Promise.all([subscriptionStatus(c.var.db, principal.userId), listPlans(c.var.db)]);
    const csrf = await csrfToken(c);
    return render(
      c,
      { title: "Subscription", noindex: true, styles: STYLES },
      <section class="buyer">
        <h1>Subscription</h1>
        <AccountNav role={principal.role} current="/account/subscription" />
        {subscription ? (
          <div class="card">
            <h2>{subscription.plan.name}</h2>
            <p class="credits">
              <strong>{subscription.creditsLeft}</strong> of {subscription.plan.monthlyCredits} download credits left this period
            </p>
            <p class="muted">
              {money(subscription.plan.priceCents, subscription.plan.currency)} a month · {subscription.status}
              {subscription.currentPeriodEnd && ` · ${subscription.cancelAtPeriodEnd ? "ends" : "renews"} ${day(subscription.currentPeriodEnd)}`}
            </p>
            <p>A credit downloads one image under the standard or editorial licence; download from an image's page.</p>
          </div>
        ) : (
          <p>No subscription. A plan gives you a number of downloads each month, each licensed under the standard or editorial licence.</p>
        )}
        {!subscription && (
          <>
            <h2>Plans</h2>
            {plans.length === 0 ? (
              <p class="empty">No plans on offer right now.</p>
            ) : (
              <ul class="cards">
                {plans.map((plan) => (
                  <li class="card">
                    <h3>{plan.name}</h3>
                    <p>
                      <strong>{money(plan.priceCents, plan.currency)}</strong> a month · {plan.monthlyCredits} downloads
                    </p>
                    <form method="post" action="/account/subscription" class="inline">
                      <CsrfField token={csrf} />
                      <input type="hidden" name="planId" value={plan.id} />
                      <button type="submit">
                        Subscribe<span class="sr"> to {plan.name}</span>
                      </button>
                    </form>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </section>,
    );
  })
  .post("/account/subscription", page({ access: BUYERS }), async (c) => {
    const fields = await formFields(c);
    const { planId } = parseForm(
      v.object({ planId: v.pipe(v.string("choose a plan"), v.regex(/^[a-z0-9-]{1,64}$/, "must be a plan id")) }),
      { planId: fields.planId },
      "No such plan",
    );
    const started = await checkoutSubscription({ db: c.var.db, config: c.var.config, urls: c.var.urls, log: c.var.log }, visitor(c).userId, planId);
    return c.redirect(started.checkoutUrl, 303);
  })
  .get("/account/api-keys", page({ access: ALL_ROLES }), (c) => apiKeysPage(c))
  .post("/account/api-keys", page({ access: ALL_ROLES }), rateLimit(AUTH_LIMITS.perUser), async (c) => {
    const body = await c.req.parseBody({ all: true });
    const name = typeof body.name === "string" ? body.name : "";
    const scopes = (Array.isArray(body.scopes) ? body.scopes : body.scopes === undefined ? [] : [body.scopes]).filter((x): x is string => typeof x === "string");
    const parsed = v.safeParse(ApiKeyRequestSchema, { name, scopes });
    if (!parsed.success) {
      return apiKeysPage(c, { error: `The key was not created. ${issueMessages(parsed.issues).join("; ")}.`, name, status: 422 });
    }
    try {
      const created = await createApiKey(c.var.db, visitor(c).userId, parsed.output, c.var.requestId);
      return apiKeysPage(c, { created, status: 201 });
    } catch (error) {
      if (error instanceof ApiError && error.type === "conflict") return apiKeysPage(c, { error: error.detail ?? error.message, name, status: 409 });
      throw error;
    }
  })
  .post("/account/api-keys/:id/revoke", page({ access: ALL_ROLES }), rateLimit(AUTH_LIMITS.perUser), async (c) => {
    await revokeApiKey(c.var.db, visitor(c).userId, idParam(c), c.var.requestId);
    return c.redirect("/account/api-keys", 303);
  });
