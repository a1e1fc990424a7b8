import { generateKeyPairSync } from "node:crypto";

/** A fresh Ed25519 key pair as PEM, for local runs and tests (production keys are secrets). */
export function generateJwtKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    JWT_PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    JWT_PUBLIC_KEY: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}
