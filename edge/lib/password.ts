import { base64url, fromBase64url, timingSafeEqual } from "./crypto";

/**
 * PBKDF2-HMAC-SHA256 through Web Crypto. workerd caps PBKDF2 at 100,000 iterations, which is
 * also what fits a Worker's CPU budget (see README "Measured figures"; scripts/bench/password.ts).
 * Argon2/scrypt would need WebAssembly and more memory than a request should spend. The hash
 * string names its algorithm and cost so the cost can be raised later and old hashes upgraded.
 */
export const PASSWORD_ITERATIONS = 100_000;
const KEY_BITS = 256;

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password.normalize("NFKC")), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, KEY_BITS);
  return new Uint8Array(bits);
}

/** @example await hashPassword("correct horse") // "pbkdf2-sha256$100000$<salt>$<hash>" */
export async function hashPassword(password: string, iterations = PASSWORD_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(password, salt, iterations);
  return `pbkdf2-sha256$${iterations}$${base64url(salt)}$${base64url(hash)}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [algorithm, iterations, salt, hash] = stored.split("$");
  if (algorithm !== "pbkdf2-sha256" || !iterations || !salt || !hash) return false;
  const actual = await derive(password, fromBase64url(salt), Number(iterations));
  return timingSafeEqual(actual, fromBase64url(hash));
}

/** A valid hash of a random password, verified against when an email is unknown so both cases take the same time. */
export const DUMMY_PASSWORD_HASH = "pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
