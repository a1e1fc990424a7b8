import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../env";
import { base64url, randomToken, timingSafeEqual } from "./crypto";

/**
 * The web app's two cookies and its CSRF tokens (HTTP plumbing; the sessions themselves are
 * edge/services/accounts/web-sessions.ts).
 *
 * - `session`: the opaque web-session token. HttpOnly, SameSite=Lax, Path=/; Secure with the
 *   `__Host-` prefix whenever the app is served over HTTPS (PUBLIC_APP_URL), so no subdomain can
 *   set or read it.
 * - `csrf`: a random per-browser value (HttpOnly too: pages embed the token, scripts read it from
 *   the page's `<meta name="csrf-token">`).
 *
 * A CSRF token is HMAC-SHA256(key, csrf cookie | session token), the key derived with HKDF from the
 * JWT signing key. A form carries it in `_csrf`, a script in `X-CSRF-Token`. It is bound to the
 * session, so a pair an attacker obtained for their own browser is worthless in a victim's.
 */

export const CSRF_FIELD = "_csrf";
export const CSRF_HEADER = "x-csrf-token";

const COOKIE = { session: "es_session", csrf: "es_csrf" } as const;

function secure(c: Context<AppEnv>): boolean {
  return c.var.config.PUBLIC_APP_URL.startsWith("https:");
}

function read(c: Context<AppEnv>, name: string): string | undefined {
  return secure(c) ? getCookie(c, name, "host") : getCookie(c, name);
}

function write(c: Context<AppEnv>, name: string, value: string, maxAgeSeconds: number) {
  const options = { path: "/", httpOnly: true, sameSite: "Lax", maxAge: maxAgeSeconds } as const;
  if (secure(c)) setCookie(c, name, value, { ...options, secure: true, prefix: "host" });
  else setCookie(c, name, value, options);
}

export function sessionCookie(c: Context<AppEnv>): string | undefined {
  return read(c, COOKIE.session);
}

/** Sets the session cookie and a fresh CSRF value (a sign-in never keeps a pre-sign-in token). */
export function setSessionCookie(c: Context<AppEnv>, token: string, maxAgeSeconds: number) {
  write(c, COOKIE.session, token, maxAgeSeconds);
  const csrf = randomToken(32);
  write(c, COOKIE.csrf, csrf, 400 * 24 * 3600);
  c.set("csrfCookie", csrf);
  c.set("sessionToken", token);
}

export function clearSessionCookie(c: Context<AppEnv>) {
  if (secure(c)) deleteCookie(c, COOKIE.session, { path: "/", secure: true, prefix: "host" });
  else deleteCookie(c, COOKIE.session, { path: "/" });
  c.set("sessionToken", null);
}

/** The session token this response leaves the browser with: one set or cleared here, else the cookie. */
function currentSession(c: Context<AppEnv>): string | undefined {
  const changed = c.get("sessionToken");
  return changed === undefined ? sessionCookie(c) : (changed ?? undefined);
}

const keys = new Map<string, Promise<CryptoKey>>();

function csrfKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", new TextEncoder().encode(secret), "HKDF", false, ["deriveKey"])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode("edgestock web csrf v1") },
          base,
          { name: "HMAC", hash: "SHA-256", length: 256 },
          false,
          ["sign"],
        ),
      );
    keys.set(secret, key);
  }
  return key;
}

async function tokenFor(secret: string, csrf: string, session: string | undefined): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await csrfKey(secret), new TextEncoder().encode(`${csrf}|${session ?? ""}`));
  return base64url(new Uint8Array(mac));
}

/**
 * The CSRF token for this browser's forms, setting the csrf cookie first if it has none. Call it
 * while rendering a page (the layout does).
 */
export async function csrfToken(c: Context<AppEnv>): Promise<string> {
  let csrf = c.get("csrfCookie") ?? read(c, COOKIE.csrf);
  if (!csrf || !/^[A-Za-z0-9_-]{43}$/.test(csrf)) {
    csrf = randomToken(32);
    write(c, COOKIE.csrf, csrf, 400 * 24 * 3600);
  }
  c.set("csrfCookie", csrf);
  return tokenFor(c.var.config.JWT_PRIVATE_KEY, csrf, currentSession(c));
}

/** Whether `presented` is this browser's CSRF token (compared in constant time). */
export async function csrfMatches(c: Context<AppEnv>, presented: string | undefined): Promise<boolean> {
  const csrf = read(c, COOKIE.csrf);
  if (!presented || !csrf) return false;
  const expected = await tokenFor(c.var.config.JWT_PRIVATE_KEY, csrf, sessionCookie(c));
  const encoder = new TextEncoder();
  return timingSafeEqual(encoder.encode(presented), encoder.encode(expected));
}
