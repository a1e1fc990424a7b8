import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type BrowserDocument, BUDGET, DEMO, expectAccessible, launchBrowser, newPage, scriptAndStyleBytes, signIn } from "../support/browser";

/**
 * The admin console in a real browser against the seeded stack: a contributor's re-upload of one of
 * their own demo photographs is held for review as a duplicate; the admin finds it in the queue with
 * the original beside it, rejects it with a reason, and the contributor's status says so.
 */

const url = inject("webUrl");
let browser: Browser;

const DEMO_PHOTO = resolve(import.meta.dirname, "../../demo/photos/dragonfly-on-twig.jpg");

type Status = { status: string; stage: string; reason: string | null; duplicateOf: string | null };

async function apiCall<T>(path: string, init: { method?: string; token?: string; json?: unknown } = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url + path, { method: init.method ?? "GET", headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) });
  return { status: res.status, body: (await res.json()) as T };
}

async function signInApi(email: string): Promise<string> {
  const res = await apiCall<{ tokens: { accessToken: string } }>("/v1/auth/login", { method: "POST", json: { email, password: DEMO.password } });
  expect(res.status).toBe(200);
  return res.body.tokens.accessToken;
}

/** Uploads as a client does: a ticket, the bytes to its presigned URL, complete. */
async function upload(token: string, bytes: Uint8Array, title: string): Promise<string> {
  const start = await apiCall<{ imageId: string; uploadUrl: string; headers: Record<string, string> }>("/v1/uploads", {
    method: "POST",
    token,
    json: { title, contentType: "image/jpeg", bytes: bytes.length, keywords: ["dragonfly"] },
  });
  expect(start.status, JSON.stringify(start.body)).toBe(201);
  const put = await fetch(start.body.uploadUrl, { method: "PUT", headers: start.body.headers, body: bytes });
  expect(put.status).toBe(200);
  const done = await apiCall(`/v1/uploads/${start.body.imageId}/complete`, { method: "POST", token, json: {} });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return start.body.imageId;
}

/** Polls the image's status (as its contributor) until the pipeline has finished with it. */
async function processed(token: string, imageId: string, timeoutMs = 150_000): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await apiCall<Status>(`/v1/images/${imageId}/status`, { token });
    if (body.stage === "done" || body.stage === "failed") return body;
    if (Date.now() > deadline) throw new Error(`image ${imageId} still ${body.stage} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Opens the review queue and follows its pages until the item is on the page. */
async function openQueueAt(page: Page, imageId: string): Promise<void> {
  await page.goto(`${url}/console/review`);
  for (let pages = 0; pages < 50; pages++) {
    if ((await page.locator(`#item-${imageId}`).count()) > 0) return;
    const next = page.getByRole("link", { name: "Next page" });
    if ((await next.count()) === 0) break;
    await next.click();
    await page.waitForLoadState();
  }
  throw new Error(`image ${imageId} is not in the review queue`);
}

const horizontalOverflow = (page: Page) =>
  page.evaluate(() => {
    const doc = (globalThis as unknown as { document: BrowserDocument & { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
    return doc.documentElement.scrollWidth - doc.documentElement.clientWidth;
  });

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe("the admin console, in a real browser", () => {
  it("rejects a held duplicate from the queue, with the original beside it, and the contributor sees the refusal", { timeout: 240_000 }, async () => {
    const contributorToken = await signInApi(DEMO.contributor);
    const title = `Dragonfly again ${crypto.randomUUID().slice(0, 6)}`;
    // Ada re-uploads one of her own demo photographs: the pipeline holds it for review as a duplicate.
    const imageId = await upload(contributorToken, new Uint8Array(readFileSync(DEMO_PHOTO)), title);
    const held = await processed(contributorToken, imageId);
    expect(held).toMatchObject({ status: "pending_review", stage: "done" });
    expect(held.duplicateOf).toMatch(/^[0-9a-f-]{36}$/);
    expect(held.reason).toMatch(/re-upload of your image/);

    // The queue at phone size: the item, its duplicate, nothing wider than the screen.
    const phone = await newPage(browser, "phone");
    await signIn(phone, url, DEMO.admin);
    await openQueueAt(phone, imageId);
    await expect.poll(() => horizontalOverflow(phone)).toBeLessThanOrEqual(0);
    await expectAccessible(phone, "/console/review (phone)");
    await phone.context().close();

    const page = await newPage(browser);
    await signIn(page, url, DEMO.admin);
    await openQueueAt(page, imageId);
    const item = page.locator(`#item-${imageId}`);
    await expect.poll(() => item.getByRole("heading", { name: title }).count()).toBe(1);
    expect(await item.getByRole("img", { name: title }).count()).toBe(1);
    const duplicateLink = item.locator(".duplicate a");
    expect(await duplicateLink.getAttribute("href")).toBe(`/images/${held.duplicateOf}`);
    // The seeded original is "Dragonfly resting on a twig" (demo/manifest.csv); its thumbnail's alt text is its title.
    const duplicateTitle = await duplicateLink.textContent();
    expect(duplicateTitle).toMatch(/dragonfly/i);
    expect(await item.locator(".duplicate img").getAttribute("alt")).toBe(duplicateTitle);
    expect(await item.textContent()).toContain("re-upload of your image");
    expect(await item.textContent()).toContain("Ada");

    // A reason is required: the browser will not submit the form without one.
    await item.getByRole("button", { name: `Reject ${title}` }).click();
    expect(new URL(page.url()).pathname).toBe("/console/review");
    expect(await page.locator(`#item-${imageId}`).count()).toBe(1);

    const reason = "Same photograph as your dragonfly already on sale";
    await item.getByLabel("Reason for rejecting").fill(reason);
    await Promise.all([page.waitForURL(`${url}/console/review?done=rejected`), item.getByRole("button", { name: `Reject ${title}` }).click()]);
    expect(await page.getByRole("status").textContent()).toContain("Rejected");
    expect(await page.locator(`#item-${imageId}`).count()).toBe(0);

    const after = await apiCall<Status>(`/v1/images/${imageId}/status`, { token: contributorToken });
    expect(after.body).toMatchObject({ status: "rejected", reason });

    // The decision is in the audit log, found by its target.
    await page.goto(`${url}/console/audit?target=${imageId}`);
    expect(await page.locator("table").textContent()).toContain("moderation.reject");
    await page.context().close();
  });

  it("serves every console page accessibly, within the byte budget", async () => {
    const page = await newPage(browser);
    await signIn(page, url, DEMO.admin);
    for (const path of ["/console", "/console/review", "/console/takedown", "/console/audit", "/console/prices", "/console/payouts"]) {
      const res = await page.goto(url + path);
      expect(res?.status(), path).toBe(200);
      const bytes = await scriptAndStyleBytes(page);
      expect(bytes.js, `${path} JavaScript bytes`).toBeLessThanOrEqual(BUDGET.js);
      expect(bytes.css, `${path} CSS bytes`).toBeLessThanOrEqual(BUDGET.css);
      await expectAccessible(page, path);
    }
    await page.context().close();
  });
});
