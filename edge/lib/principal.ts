import type { UserRole } from "../../db/schema";

/** The authenticated caller: a user through an access token, or through one of their API keys. */
export type Principal =
  | { kind: "user"; userId: string; role: UserRole; sessionId: string }
  | { kind: "api_key"; userId: string; role: UserRole; apiKeyId: string; scopes: string[] };

export const API_KEY_SCOPES = ["account:read", "search:read", "images:read", "licenses:read", "downloads:create"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];
