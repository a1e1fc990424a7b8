import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase } from "../../db/connect";
import { images, searchQueries } from "../../db/schema";
import { api, expectProblem, sharedWorker, signUp, testDb, workerWith } from "./support";

/**
 * DATABASE_URL_READ: search traffic (search, suggestions, search by image, the storefront's search page)
 * reads the read replica; grants, pages and every write stay on the primary. Two replicas stand in for
 * Neon's: one that cannot be reached (so whatever works did not read it), and the same database opened
 * read-only (`default_transaction_read_only`, what a hot standby enforces), where a search must succeed
 * and its query still be recorded, on the primary.
 */
const MARKER = `replica${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
/** A second word of the title, searched only through the read-only replica, so its recording is that search's. */
const MARKER_READ_ONLY = `standby${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
const primaryUrl = new URL(sharedWorker.env.DATABASE_URL);
/** The primary's server and database on a port nothing listens on. */
const unreachable = Object.assign(new URL(primaryUrl), { port: "1" }).toString();
/** The same database, every transaction read-only. */
const readOnly = (() => {
  const url = new URL(primaryUrl);
  url.searchParams.set("options", "-c default_transaction_read_only=on");
  return url.toString();
})();

const { db, pool } = testDb();
let imageId = "";

beforeAll(async () => {
  const contributor = await signUp("contributor");
  const [row] = await db
    .insert(images)
    .values({
      contributorId: contributor.userId,
      title: `Lighthouse ${MARKER} ${MARKER_READ_ONLY}`,
      status: "approved",
      nsfwScore: 0,
      width: 40,
      height: 30,
      publishedAt: new Date(),
    })
    .returning({ id: images.id });
  imageId = row?.id ?? "";
});

afterAll(async () => {
  await db.execute(sql`delete from images where id = ${imageId}`);
  await pool.end();
});

describe("DATABASE_URL_READ", () => {
  it("search, suggestions and the search page read the replica: with it unreachable they fail as the database would", async () => {
    const target = workerWith({ DATABASE_URL_READ: unreachable });
    await expectProblem(await api(`/v1/search?q=${MARKER}&mode=keyword`, { target, headers: { "cache-control": "no-cache" } }), 503, "service-unavailable");
    const page = await api(`/search?q=${MARKER}`, { target, headers: { accept: "text/html" } });
    expect(page.status).toBe(503);
    await expectProblem(await api(`/v1/search/suggest?q=${MARKER.slice(0, 6)}`, { target }), 503, "service-unavailable");
    // Without the replica setting the same search works: the failure above was the replica's.
    const direct = await api(`/v1/search?q=${MARKER}&mode=keyword`, { headers: { "cache-control": "no-cache" } });
    expect(direct.status).toBe(200);
  });

  it("grants and pages never read it: the image page and sign-in work with the replica unreachable", async () => {
    const target = workerWith({ DATABASE_URL_READ: unreachable });
    const image = await api(`/v1/images/${imageId}`, { target });
    expect(image.status, await image.clone().text()).toBe(200);
    expect(((await image.json()) as { id: string }).id).toBe(imageId);
    const buyer = await signUp("buyer", target);
    const me = await api("/v1/auth/me", { target, token: buyer.accessToken });
    expect(me.status).toBe(200);
  });

  it("a read-only replica answers the search, and the query is recorded on the primary", async (ctx) => {
    // The stand-in must really refuse writes, or this test would prove nothing: PGlite ignores
    // connection options, so only a PostgreSQL server (CI's) can play the hot standby.
    const probe = connectDatabase(readOnly, { localProxy: sharedWorker.env.DB_LOCAL_PROXY || undefined });
    const refused = await probe.dbHttp.execute(sql`create temporary table replica_probe (x int)`).then(
      () => false,
      (error: Error) => /read-only transaction/.test(error.message),
    );
    await probe.pool.end();
    if (!refused) ctx.skip();

    const target = workerWith({ DATABASE_URL_READ: readOnly });
    const res = await api(`/v1/search?q=${MARKER_READ_ONLY}&mode=keyword`, { target, headers: { "cache-control": "no-cache" } });
    const body = (await res.json()) as { total: number; results: { id: string }[] };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.results.map((r) => r.id)).toEqual([imageId]);
    const recorded = await db.select({ query: searchQueries.query }).from(searchQueries).where(sql`${searchQueries.query} = ${MARKER_READ_ONLY}`);
    expect(recorded).toHaveLength(1);
  });
});
