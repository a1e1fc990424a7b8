import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collections, images, licensePrices, users } from "../../db/schema";
import { testDb } from "./support";
import { Browser, signedInBrowser } from "./web-support";

/**
 * Boards in the web app (edge/web/pages/boards.tsx) driven as a browser would: save from an image page
 * to a new board and to an existing one, move and remove, share and open the link anonymously, stop
 * sharing, license the board into the cart; another user's board pages are 404s.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

let contributorId: string;
async function image(title: string): Promise<string> {
  const [row] = await db.insert(images).values({ contributorId, title, status: "approved", stage: "done", nsfwScore: 0, publishedAt: new Date() }).returning({ id: images.id });
  if (!row) throw new Error("insert failed");
  await db.insert(licensePrices).values({ imageId: row.id, licenseType: "standard", amountCents: 1100 });
  return row.id;
}
const location = (res: Response) => res.headers.get("location") ?? "";

beforeAll(async () => {
  const [user] = await db
    .insert(users)
    .values({ email: `boards-pages-${crypto.randomUUID()}@example.test`, passwordHash: "unused", role: "contributor", displayName: "Boards Pages" })
    .returning({ id: users.id });
  contributorId = user?.id ?? "";
});

describe("board pages", () => {
  it("saves from the image page, reorders, shares by link, stops sharing, licenses all, deletes", async () => {
    const { browser } = await signedInBrowser("buyer");
    const tag = crypto.randomUUID().slice(0, 8);
    const first = await image(`Pier at dawn ${tag}`);
    const second = await image(`Gull in flight ${tag}`);

    // An anonymous visitor is asked to sign in; a signed-in one gets the form.
    expect(await new Browser().page(`/images/${first}`)).toContain("to keep this image on a board");
    expect(await browser.page(`/images/${first}`)).toContain('action="/boards/save"');

    const saved = await browser.submit("/boards/save", { imageId: first, boardId: "", name: `Coast ${tag}` }, `/images/${first}`);
    expect(saved.status, await saved.clone().text()).toBe(303);
    const boardPath = location(saved);
    const id = boardPath.split("/").pop() as string;
    // The image page now offers the board; saving there adds to it.
    expect(await browser.page(`/images/${second}`)).toContain(`Coast ${tag}`);
    expect((await browser.submit("/boards/save", { imageId: second, boardId: id, name: "" })).status).toBe(303);

    let html = await browser.page(boardPath);
    expect(html.indexOf(`Pier at dawn ${tag}`)).toBeLessThan(html.indexOf(`Gull in flight ${tag}`));
    expect((await browser.submit(`${boardPath}/items/${second}/up`, {})).status).toBe(303);
    html = await browser.page(boardPath);
    expect(html.indexOf(`Gull in flight ${tag}`)).toBeLessThan(html.indexOf(`Pier at dawn ${tag}`));
    expect(await browser.page("/account/boards")).toContain(`Coast ${tag}`);

    expect((await browser.submit(`${boardPath}/share`, {})).status).toBe(303);
    const [row] = await db.select({ token: collections.shareToken }).from(collections).where(eq(collections.id, id));
    const token = row?.token as string;
    expect(await browser.page(boardPath)).toContain(`/boards/${token}`);
    const anonymous = new Browser();
    const sharedResponse = await anonymous.fetch(`/boards/${token}`);
    expect(sharedResponse.headers.get("referrer-policy")).toBe("no-referrer");
    const shared = await anonymous.page(`/boards/${token}`);
    expect(shared).toContain(`Pier at dawn ${tag}`);
    expect(shared).not.toContain("Remove");
    await db.update(images).set({ takenDownAt: new Date() }).where(eq(images.id, second));
    expect(await anonymous.page(`/boards/${token}`)).not.toContain(`Gull in flight ${tag}`);
    expect(await browser.page(boardPath)).toContain("No longer available");
    expect((await browser.submit(`${boardPath}/unshare`, {})).status).toBe(303);
    expect((await anonymous.fetch(`/boards/${token}`)).status).toBe(404);

    const licensed = await browser.submit(`${boardPath}/license-all`, { licenseType: "standard" });
    expect(licensed.status).toBe(200);
    expect(await licensed.text()).toContain("1 added to the cart; 1 could not be");
    expect(await browser.page("/cart")).toContain(`Pier at dawn ${tag}`);

    expect((await browser.submit(`${boardPath}/items/${first}/remove`, {})).status).toBe(303);
    expect((await browser.submit(`${boardPath}/delete`, {})).status).toBe(303);
    expect((await browser.fetch(boardPath)).status).toBe(404);
  });

  it("another user's board pages and actions are 404s, and change nothing", async () => {
    const owner = await signedInBrowser("buyer");
    const { browser: other } = await signedInBrowser("contributor");
    const pic = await image(`Private pick ${crypto.randomUUID().slice(0, 8)}`);
    const saved = await owner.browser.submit("/boards/save", { imageId: pic, boardId: "", name: "Mine" }, `/images/${pic}`);
    const boardPath = location(saved);
    await other.page("/account/boards");
    expect((await other.fetch(boardPath)).status).toBe(404);
    for (const action of ["rename", "delete", "share", "unshare", `items/${pic}/remove`, `items/${pic}/up`]) {
      const res = await other.submit(`${boardPath}/${action}`, { name: "Theirs now" });
      expect(res.status, action).toBe(404);
    }
    expect((await other.submit("/boards/save", { imageId: pic, boardId: boardPath.split("/").pop() as string, name: "" })).status).toBe(404);
    const html = await owner.browser.page(boardPath);
    expect(html).toContain("Mine");
    expect(html).toContain("Create a share link");
  });
});
