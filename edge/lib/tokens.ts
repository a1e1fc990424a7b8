import { importPKCS8, importSPKI, jwtVerify, SignJWT } from "jose";
import * as v from "valibot";
import type { UserRole } from "../../db/schema";
import type { Config } from "../config";
import { ApiError } from "./problem";

/** Access tokens: EdDSA (Ed25519) JWTs, 15 minutes; `alg`, issuer and audience are pinned on verify. */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 60 * 60;
const ALG = "EdDSA";

type Keys = { privateKey: CryptoKey; publicKey: CryptoKey };
const keyCache = new Map<string, Promise<Keys>>();

function keys(config: Config): Promise<Keys> {
  const cacheKey = config.JWT_PUBLIC_KEY;
  let hit = keyCache.get(cacheKey);
  if (!hit) {
    hit = (async () => ({
      privateKey: await importPKCS8(config.JWT_PRIVATE_KEY.replace(/\\n/g, "\n"), ALG),
      publicKey: await importSPKI(config.JWT_PUBLIC_KEY.replace(/\\n/g, "\n"), ALG),
    }))();
    keyCache.set(cacheKey, hit);
  }
  return hit;
}

const Claims = v.object({
  sub: v.pipe(v.string(), v.uuid()),
  role: v.picklist(["buyer", "contributor", "admin"]),
  sid: v.pipe(v.string(), v.uuid()),
});

export type AccessClaims = { userId: string; role: UserRole; sessionId: string };

export async function signAccessToken(config: Config, claims: AccessClaims, now = Date.now()): Promise<string> {
  const { privateKey } = await keys(config);
  const iat = Math.floor(now / 1000);
  return new SignJWT({ role: claims.role, sid: claims.sessionId })
    .setProtectedHeader({ alg: ALG, typ: "JWT" })
    .setSubject(claims.userId)
    .setIssuer(config.JWT_ISSUER)
    .setAudience(config.JWT_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ACCESS_TOKEN_TTL_SECONDS)
    .setJti(crypto.randomUUID())
    .sign(privateKey);
}

/** Verifies signature, `alg`, issuer, audience and expiry; any failure is a 401 `invalid-token`. */
export async function verifyAccessToken(config: Config, token: string): Promise<AccessClaims> {
  const { publicKey } = await keys(config);
  try {
    const { payload } = await jwtVerify(token, publicKey, {
      algorithms: [ALG],
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      requiredClaims: ["exp", "iat", "sub"],
    });
    const claims = v.parse(Claims, payload);
    return { userId: claims.sub, role: claims.role, sessionId: claims.sid };
  } catch {
    throw new ApiError("invalid-token");
  }
}
