import { eq } from "drizzle-orm";
import type { Database } from "../../../db/connect";
import { type User, users } from "../../../db/schema";
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from "../../lib/password";
import { ApiError } from "../../lib/problem";
import { audit } from "../admin/audit";

/** What the API shows of a user; never the password hash. */
export function publicUser(user: User) {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    displayName: user.displayName,
    createdAt: user.createdAt.toISOString(),
  };
}

/**
 * Creates an account. Self-registration gives buyer or contributor; admins are made by an admin
 * or the seed script. A taken email is a 409 (the unique index decides, so two concurrent
 * registrations cannot both win).
 */
export async function registerUser(
  db: Database,
  input: { email: string; password: string; displayName: string; role: "buyer" | "contributor" },
  requestId?: string,
): Promise<User> {
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

export async function getUser(db: Database, id: string): Promise<User> {
  const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  if (!user || user.disabledAt) throw new ApiError("not-found", "user not found");
  return user;
}
