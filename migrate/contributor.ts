import { eq } from "drizzle-orm";
import type { Queryable } from "../db/connect";
import { users } from "../db/schema";

/** Who the migrated images are listed under: an existing contributor (or admin), by id or email. */

export class ContributorError extends Error {
  override name = "ContributorError";
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The user id of `idOrEmail`; throws ContributorError naming what is wrong. */
export async function findContributor(db: Queryable, idOrEmail: string): Promise<string> {
  const byId = UUID.test(idOrEmail);
  const [user] = await db
    .select({ id: users.id, role: users.role, disabledAt: users.disabledAt })
    .from(users)
    .where(byId ? eq(users.id, idOrEmail.toLowerCase()) : eq(users.email, idOrEmail.trim().toLowerCase()));
  if (!user) throw new ContributorError(`--contributor: no user ${byId ? "with id" : "with email"} ${idOrEmail}`);
  if (user.role !== "contributor" && user.role !== "admin") throw new ContributorError(`--contributor: ${idOrEmail} is a ${user.role}, not a contributor`);
  if (user.disabledAt) throw new ContributorError(`--contributor: ${idOrEmail} is disabled`);
  return user.id;
}
