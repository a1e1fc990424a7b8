import { eq } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { type User, userRole, users } from "../../../db/schema";
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from "../../lib/password";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { audit } from "../admin/audit";

export const PublicUserSchema = v.object({
  id: s.uuid,
  email: v.string(),
  role: v.picklist(userRole.enumValues),
  displayName: v.string(),
  createdAt: v.string(),
});
export type PublicUser = v.InferOutput<typeof PublicUserSchema>;

/** What the API shows of a user; never the password hash. */
export function publicUser(user: User): PublicUser {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    displayName: user.displayName,
    createdAt: user.createdAt.toISOString(),
  };
}

/** What self-registration asks for: buyer or contributor, never admin. */
export const NewAccountSchema = v.strictObject({
  email: s.email,
  password: s.password,
  displayName: s.text(80),
  role: v.optional(v.picklist(["buyer", "contributor"]), "buyer"),
});
export type NewAccount = v.InferOutput<typeof NewAccountSchema>;

/**
 * Creates an account. Self-registration gives buyer or contributor; admins are made by an admin
 * or the seed script. A taken email is a 409 (the unique index decides, so two concurrent
 * registrations cannot both win).
 */
export async function registerUser(db: Database, input: NewAccount, requestId?: string): Promise<User> {
  const passwordHash = await hashPassword(input.password);
  return db.transaction(async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({ email: input.email, passwordHash, displayName: input.displayName, role: input.role })
      .onConflictDoNothing({ target: users.email })
      .returning();
    if (!user) throw new ApiError("email-taken");
    await audit(tx, { actorId: user.id, action: "auth.register", targetType: "user", targetId: user.id, requestId });
    return user;
  });
}

/** Checks email and password; the same work is done for unknown emails so timing reveals nothing. */
export async function checkCredentials(db: Database, email: string, password: string): Promise<User> {
  const [user] = await db.select().from(users).where(eq(users.email, email)).limit(1);
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
  if (!user || !ok || user.disabledAt) throw new ApiError("invalid-credentials");
  return user;
}

export const CurrentUserSchema = v.object({ user: PublicUserSchema });
export type CurrentUser = v.InferOutput<typeof CurrentUserSchema>;

/** The signed-in user as the API shows it; a disabled or deleted account is a 404. */
export async function currentUser(db: Database, id: string): Promise<CurrentUser> {
  const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  if (!user || user.disabledAt) throw new ApiError("not-found", "user not found");
  return { user: publicUser(user) };
}
