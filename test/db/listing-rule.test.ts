import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isListed, listedSql, NSFW_THRESHOLD, safeForSearchSql } from "../../common/images";
import { openEmbeddedPostgres } from "../../db/local/pglite";
import { imageStatus, images, users } from "../../db/schema";

type Embedded = Awaited<ReturnType<typeof openEmbeddedPostgres>>;
let local: Embedded;
beforeAll(async () => {
  local = await openEmbeddedPostgres();
});
afterAll(() => local.client.close());

/** Every combination of the columns the listing rule reads: each status, withdrawn or not, taken down or not. */
function everyListingState() {
  const when = [null, new Date("2026-01-02T03:04:05Z")];
  return imageStatus.enumValues.flatMap((status) => when.flatMap((withdrawnAt) => when.map((takenDownAt) => ({ status, withdrawnAt, takenDownAt }))));
}

describe("the listing rule in SQL and in JavaScript", () => {
  it("agrees over every state, in drizzle's own queries and under an alias", async () => {
    const { db } = local;
    const [contributor] = await db
      .insert(users)
      .values({ email: `${randomUUID()}@example.com`, passwordHash: "x", displayName: "Listing rule", role: "contributor" })
      .returning({ id: users.id });
    const states = everyListingState();
    const rows = await db
      .insert(images)
      .values(states.map((state, i) => ({ ...state, contributorId: contributor?.id as string, title: `state ${i}` })))
      .returning({ id: images.id, status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt });
    expect(rows).toHaveLength(5 * 2 * 2);

    const inDrizzle = await db.select({ id: images.id, listed: sql<boolean>`${listedSql()}` }).from(images);
    const aliased = await db.execute<{ id: string; listed: boolean }>(sql`select i.id, ${listedSql("i")} as listed from images i`);
    const byId = (list: { id: string; listed: boolean }[]) => new Map(list.map((row) => [row.id, row.listed]));
    const drizzleListed = byId(inDrizzle);
    const aliasListed = byId(aliased.rows);
    for (const row of rows) {
      expect({ ...row, listed: drizzleListed.get(row.id) }).toEqual({ ...row, listed: isListed(row) });
      expect({ ...row, listed: aliasListed.get(row.id) }).toEqual({ ...row, listed: isListed(row) });
    }
    // The rule is not vacuous: exactly one state of the twenty is listed.
    expect(rows.filter(isListed)).toHaveLength(1);
  });

  it("keeps unscored images and those at the NSFW threshold out of safe search", async () => {
    const { rows } = await local.db.execute<{ score: number | null; safe: boolean | null }>(
      sql`select s.nsfw_score as score, ${safeForSearchSql("s")} as safe
          from (values (null::real), (0.0::real), (${NSFW_THRESHOLD / 2}::real), (${NSFW_THRESHOLD}::real), (0.9::real)) as s(nsfw_score)`,
    );
    expect(rows.map((row) => row.safe === true)).toEqual([false, true, true, false, false]);
  });
});
