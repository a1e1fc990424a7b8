import type { Context } from "hono";
import * as v from "valibot";
import type { OrderStatus } from "../../../db/schema";
import type { AppEnv } from "../../env";
import { decodeCursor } from "../../lib/pagination";
import { ApiError, fieldIssues } from "../../lib/problem";
import * as s from "../../lib/schemas";
import type { OrderView } from "../../services/commerce/orders";
import type { ItemRefusal } from "../../services/commerce/settlement";
import { day, money } from "../components";
import { issueMessages } from "../page";

/**
 * Pieces the buyer's pages share (cart.tsx, account.tsx): an order as a buyer reads it, status
 * badges, paging links, and form checks with the API's own schemas.
 */

/** An order's status in words, and the badge colour that goes with it. */
export const ORDER_STATUS: Record<OrderStatus, { label: string; badge: string }> = {
  pending: { label: "Awaiting payment", badge: "processing" },
  paid: { label: "Paid", badge: "approved" },
  failed: { label: "Payment failed", badge: "failed" },
  refunded: { label: "Refunded", badge: "failed" },
  partially_refunded: { label: "Partly refunded", badge: "processing" },
  disputed: { label: "Disputed", badge: "failed" },
  canceled: { label: "Canceled", badge: "failed" },
};

export function OrderBadge({ status }: { status: OrderStatus }) {
  const { label, badge } = ORDER_STATUS[status];
  return <span class={`badge ${badge}`}>{label}</span>;
}

const REFUSED: Record<ItemRefusal, string> = {
  "already-licensed": "you already held this licence",
  "taken-down": "the image was taken down",
  withdrawn: "the contributor withdrew the image",
  "not-listed": "the image is no longer for sale",
};

/** An order: when, status, its items with their prices and licences, its total. */
export function OrderDetail({ order }: { order: OrderView }) {
  return (
    <article class="card order">
      <h2>
        Order of {day(order.createdAt)} <OrderBadge status={order.status} />
      </h2>
      <ul class="lines">
        {order.items.map((item) => (
          <li>
            <span class="grow">
              <a href={`/images/${item.imageId}`}>{item.title}</a> <span class="muted">· {item.licenseType} licence</span>
            </span>
            <span>{money(item.priceCents, order.currency)}</span>
            <span class="state">
              {item.licenseId && !item.licenseRevoked && <a href={`/account/licenses#license-${item.licenseId}`}>Licence</a>}
              {item.licenseId && item.licenseRevoked && <span class="muted">Licence revoked</span>}
              {item.refused && <span class="muted">Not licensed: {REFUSED[item.refused]}; refunded</span>}
            </span>
          </li>
        ))}
      </ul>
      <p class="total">
        Total <strong>{money(order.totalCents, order.currency)}</strong>
        {order.paidAt && <span class="muted"> · paid {day(order.paidAt)}</span>}
        {order.automaticRefund && <span class="muted"> · {money(order.automaticRefund.amountCents, order.currency)} refunded automatically</span>}
      </p>
      <p class="muted small">Order {order.id}</p>
    </article>
  );
}

const PageQuery = v.object(s.pageQuery);

/** `?limit&cursor` of a list page, checked as the API checks them (a bad one is a 422 page). */
export function pageQuery(c: Context<AppEnv>) {
  const parsed = v.safeParse(PageQuery, { limit: c.req.query("limit"), cursor: c.req.query("cursor") });
  if (!parsed.success) throw new ApiError("validation-failed", "the page link is not valid", { errors: fieldIssues(parsed.issues) });
  return { limit: parsed.output.limit, after: parsed.output.cursor ? decodeCursor(parsed.output.cursor) : undefined };
}

/** The "Next page" link of a list page, when there is one. */
export function Pager({ path, nextCursor }: { path: string; nextCursor: string | null }) {
  if (!nextCursor) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <a href={`${path}?cursor=${encodeURIComponent(nextCursor)}`}>Next page</a>
    </nav>
  );
}

/** A form's fields through the API's own schema: the output, or a 422 page naming what is wrong. */
export function parseForm<T extends v.GenericSchema>(schema: T, fields: unknown, what: string): v.InferOutput<T> {
  const parsed = v.safeParse(schema, fields);
  if (!parsed.success) {
    throw new ApiError("validation-failed", `${what}: ${issueMessages(parsed.issues).join("; ")}`, { errors: fieldIssues(parsed.issues) });
  }
  return parsed.output;
}

/** The account area's tabs, the current one marked. */
export function AccountNav({ role, current }: { role: string; current: string }) {
  const links: [string, string][] = [
    ["/account", "Overview"],
    ...(role === "buyer"
      ? ([
          ["/account/licenses", "Licences"],
          ["/account/orders", "Orders"],
          ["/account/subscription", "Subscription"],
        ] as [string, string][])
      : []),
    ["/account/boards", "Boards"],
    ["/account/api-keys", "API keys"],
  ];
  return (
    <nav class="account-nav" aria-label="Your account">
      {links.map(([href, label]) => (
        <a href={href} aria-current={href === current ? "page" : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}
