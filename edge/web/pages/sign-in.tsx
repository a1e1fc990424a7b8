import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../../env";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { clearSessionCookie, csrfToken, sessionCookie, setSessionCookie } from "../../lib/session-cookies";
import { AUTH_LIMITS, checkRateLimit, LOGIN_PER_EMAIL, rateLimit, signInClient } from "../../middleware/rate-limit";
import { NewAccountSchema } from "../../services/accounts/users";
import { endWebSession, registerWeb, signInWeb, WEB_SESSION_TTL_SECONDS } from "../../services/accounts/web-sessions";
import { Notice } from "../components";
import { CsrfField, render } from "../layout";
import { formFields, issueMessages, page } from "../page";

/** Sign in, join, sign out: the web session's doors (edge/services/accounts/web-sessions.ts). */

const LoginForm = v.object({ email: s.email, password: s.passwordAttempt });

/** Where to go after signing in: a path on this site only (never `//evil.example` or a full URL). */
export function safeNext(next: string | undefined, fallback = "/"): string {
  return next && /^\/(?![/\\])[^\s]*$/.test(next) ? next : fallback;
}

async function loginPage(c: Context<AppEnv>, values: { email?: string; next?: string; error?: string }, status: 200 | 401 | 422 | 429 = 200) {
  const csrf = await csrfToken(c);
  return render(
    c,
    { title: "Sign in", noindex: true, status },
    <section class="narrow">
      <h1>Sign in</h1>
      {values.error && <Notice>{values.error}</Notice>}
      <form method="post" action="/login" class="stack">
        <CsrfField token={csrf} />
        <input type="hidden" name="next" value={safeNext(values.next)} />
        <label>
          Email
          <input name="email" type="email" autocomplete="username" required value={values.email ?? ""} />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Sign in</button>
      </form>
      <p>
        New here? <a href={`/register?next=${encodeURIComponent(safeNext(values.next))}`}>Create an account</a>
      </p>
    </section>,
  );
}

async function registerPage(c: Context<AppEnv>, values: Record<string, string | undefined>, errors: string[] = [], status: 200 | 409 | 422 = 200) {
  const csrf = await csrfToken(c);
  return render(
    c,
    { title: "Create an account", noindex: true, status },
    <section class="narrow">
      <h1>Create an account</h1>
      {errors.length > 0 && (
        <Notice>
          {errors.map((e) => (
            <>
              {e}
              <br />
            </>
          ))}
        </Notice>
      )}
      <form method="post" action="/register" class="stack">
        <CsrfField token={csrf} />
        <input type="hidden" name="next" value={safeNext(values.next)} />
        <label>
          Name shown on your images and receipts
          <input name="displayName" required maxlength={80} autocomplete="name" value={values.displayName ?? ""} />
        </label>
        <label>
          Email
          <input name="email" type="email" required autocomplete="email" value={values.email ?? ""} />
        </label>
        <label>
          Password (at least 10 characters)
          <input name="password" type="password" required minlength={10} autocomplete="new-password" />
        </label>
        <fieldset>
          <legend>I want to</legend>
          <label class="choice">
            <input type="radio" name="role" value="buyer" checked={values.role !== "contributor"} /> license images
          </label>
          <label class="choice">
            <input type="radio" name="role" value="contributor" checked={values.role === "contributor"} /> sell my photographs
          </label>
        </fieldset>
        <button type="submit">Create account</button>
      </form>
      <p>
        Already have one? <a href="/login">Sign in</a>
      </p>
    </section>,
  );
}

export const signInPages = new Hono<AppEnv>()
  .get("/login", page({ access: "public" }), (c) => loginPage(c, { next: c.req.query("next") }))
  .post("/login", page({ access: "public" }), rateLimit(AUTH_LIMITS.perIp), async (c) => {
    const fields = await formFields(c);
    const parsed = v.safeParse(LoginForm, fields);
    if (!parsed.success) return loginPage(c, { email: fields.email, next: fields.next, error: "Enter your email and password." }, 422);
    await checkRateLimit(c, { ...LOGIN_PER_EMAIL, key: () => parsed.output.email });
    try {
      const { session } = await signInWeb(c.var.db, parsed.output, signInClient(c));
      setSessionCookie(c, session.token, WEB_SESSION_TTL_SECONDS);
    } catch (error) {
      if (error instanceof ApiError && error.type === "invalid-credentials") {
        return loginPage(c, { email: fields.email, next: fields.next, error: "That email and password do not match an account." }, 401);
      }
      throw error;
    }
    return c.redirect(safeNext(fields.next), 303);
  })
  .get("/register", page({ access: "public" }), (c) => registerPage(c, { next: c.req.query("next"), role: c.req.query("role") }))
  .post("/register", page({ access: "public" }), rateLimit(AUTH_LIMITS.perIp), async (c) => {
    const fields = await formFields(c);
    const parsed = v.safeParse(NewAccountSchema, { email: fields.email, password: fields.password, displayName: fields.displayName, role: fields.role });
    if (!parsed.success) {
      return registerPage(c, fields, issueMessages(parsed.issues), 422);
    }
    try {
      const { user, session } = await registerWeb(c.var.db, parsed.output, signInClient(c));
      setSessionCookie(c, session.token, WEB_SESSION_TTL_SECONDS);
      return c.redirect(safeNext(fields.next, user.role === "contributor" ? "/studio" : "/"), 303);
    } catch (error) {
      if (error instanceof ApiError && error.type === "email-taken") return registerPage(c, fields, ["An account with this email already exists: sign in instead."], 409);
      throw error;
    }
  })
  .post("/logout", page({ access: "public" }), async (c) => {
    const token = sessionCookie(c);
    if (token) await endWebSession(c.var.db, token);
    clearSessionCookie(c);
    return c.redirect("/", 303);
  });
