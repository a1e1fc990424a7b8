import { Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { ALL_ROLES, caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { idempotent } from "../middleware/idempotency";
import { AUTH_LIMITS, checkRateLimit, LOGIN_PER_EMAIL, rateLimit, signInClient } from "../middleware/rate-limit";
import { RefreshTokenSchema, registerAndSignIn, revokeSession, rotateRefreshToken, SignedInSchema, signIn, TokenPairSchema } from "../services/accounts/sessions";
import { CurrentUserSchema, currentUser, NewAccountSchema } from "../services/accounts/users";

const LoginBody = v.strictObject({ email: s.email, password: s.passwordAttempt });
const RefreshBody = v.strictObject({ refreshToken: RefreshTokenSchema });

export const authRoutes = new Hono<AppEnv>()
  .post(
    "/register",
    spec({
      summary: "Create an account (buyer or contributor) and start a session",
      description: "A replay under the same Idempotency-Key returns the account without tokens (they are never stored): log in.",
      tags: ["auth"],
      access: "public",
      idempotent: true,
      responses: { 201: { description: "Account created", schema: SignedInSchema } },
    }),
    input("json", NewAccountSchema),
    rateLimit(AUTH_LIMITS.perIp),
    idempotent({ redact: ["tokens"] }),
    async (c) => {
      return c.json(await registerAndSignIn(c.var.db, c.var.config, c.req.valid("json"), signInClient(c)), 201, { location: "/v1/auth/me" });
    },
  )
  .post(
    "/login",
    spec({
      summary: "Exchange email and password for an access and a refresh token",
      tags: ["auth"],
      access: "public",
      responses: { 200: { description: "Signed in", schema: SignedInSchema } },
    }),
    input("json", LoginBody),
    rateLimit(AUTH_LIMITS.perIp),
    async (c) => {
      const credentials = c.req.valid("json");
      await checkRateLimit(c, { ...LOGIN_PER_EMAIL, key: () => credentials.email });
      return c.json(await signIn(c.var.db, c.var.config, credentials, signInClient(c)));
    },
  )
  .post(
    "/refresh",
    spec({
      summary: "Rotate a refresh token; reusing an old one revokes the whole session",
      tags: ["auth"],
      access: "public",
      responses: { 200: { description: "New token pair", schema: TokenPairSchema } },
    }),
    input("json", RefreshBody),
    rateLimit(AUTH_LIMITS.perIp),
    async (c) => {
      const { refreshToken } = c.req.valid("json");
      return c.json(await rotateRefreshToken(c.var.db, c.var.config, refreshToken, signInClient(c)));
    },
  )
  .post(
    "/logout",
    spec({
      summary: "End the session the refresh token belongs to",
      tags: ["auth"],
      access: ALL_ROLES,
      responses: { 204: { description: "Signed out (also when the token was already revoked)" } },
    }),
    input("json", RefreshBody),
    rateLimit(AUTH_LIMITS.perUser),
    async (c) => {
      await revokeSession(c.var.db, c.req.valid("json").refreshToken, caller(c).userId);
      return c.body(null, 204);
    },
  )
  .get(
    "/me",
    spec({
      summary: "The signed-in user",
      tags: ["auth"],
      access: ALL_ROLES,
      apiKeyScope: "account:read",
      responses: { 200: { description: "Current user", schema: CurrentUserSchema } },
    }),
    rateLimit(AUTH_LIMITS.perUser),
    async (c) => c.json(await currentUser(c.var.db, caller(c).userId)),
  );
