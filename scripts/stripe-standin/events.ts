import Stripe from "stripe";
import { newId, nowSeconds } from "./objects";
import type { StandinState, StoredEvent } from "./state";

/** How one webhook delivery went: the receiver's HTTP status (0 when it could not be reached). */
export type Delivery = { status: number; ok: boolean; error?: string };

/** An event as a dev control reports it: the exact payload, its `Stripe-Signature` header, and the delivery if one was made. */
export type AnnouncedEvent = { id: string; type: string; payload: string; signature: string; delivery?: Delivery };

/** Sends events to the webhook endpoint, one at a time and in the order they happened. */
export type Announcer = {
  announce(events: StoredEvent[]): Promise<AnnouncedEvent[]>;
  /** Resolves once every delivery started so far has finished. */
  settled(): Promise<void>;
};

const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * Records an event in the shape Stripe sends (https://docs.stripe.com/api/events/object). The
 * object is serialized now, so the event keeps the object as it was at this moment.
 */
export function recordEvent(state: StandinState, type: string, object: unknown, previousAttributes?: Record<string, unknown>): StoredEvent {
  const created = nowSeconds();
  const event = {
    id: newId("evt_"),
    object: "event",
    api_version: Stripe.API_VERSION,
    created,
    data: { object, ...(previousAttributes && { previous_attributes: previousAttributes }) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
  const stored = { id: event.id, type, created, payload: JSON.stringify(event) };
  state.events.push(stored);
  return stored;
}

async function deliver(url: string, payload: string, signature: string): Promise<Delivery> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "Stripe-Signature": signature },
      body: payload,
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    return { status: response.status, ok: response.ok };
  } catch (error) {
    return { status: 0, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * An announcer that signs each event with the endpoint secret (with the SDK's own helper, so
 * `stripe.webhooks.constructEvent` accepts it) and, when `webhookUrl` is set, POSTs it there.
 * Deliveries form one queue, so events reach the endpoint in the order they were made.
 */
export function createAnnouncer(webhookSecret: string, webhookUrl: string | undefined): Announcer {
  let queue: Promise<unknown> = Promise.resolve();

  const announceOne = async (event: StoredEvent): Promise<AnnouncedEvent> => {
    const signature = await Stripe.webhooks.generateTestHeaderStringAsync({ payload: event.payload, secret: webhookSecret });
    const announced: AnnouncedEvent = { id: event.id, type: event.type, payload: event.payload, signature };
    if (webhookUrl) announced.delivery = await deliver(webhookUrl, event.payload, signature);
    return announced;
  };

  return {
    announce(events) {
      const done = queue.then(async () => {
        const announced: AnnouncedEvent[] = [];
        for (const event of events) announced.push(await announceOne(event));
        return announced;
      });
      queue = done.catch(() => undefined);
      return done;
    },
    async settled() {
      await queue;
    },
  };
}
