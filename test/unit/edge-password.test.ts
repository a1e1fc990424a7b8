import { describe, expect, it } from "vitest";
import { DUMMY_PASSWORD_HASH, hashPassword, PASSWORD_ITERATIONS, verifyPassword } from "../../edge/lib/password";

describe("password hashing", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash).toMatch(new RegExp(`^pbkdf2-sha256\\$${PASSWORD_ITERATIONS}\\$`));
    expect(await verifyPassword("correct horse battery staple", hash)).toBe(true);
    expect(await verifyPassword("correct horse battery stapler", hash)).toBe(false);
  });

  it("salts: the same password hashes differently each time", async () => {
    expect(await hashPassword("same password here")).not.toBe(await hashPassword("same password here"));
  });

  it("treats NFKC-equivalent spellings as the same password", async () => {
    const hash = await hashPassword("ﬁsh and chips!");
    expect(await verifyPassword("fish and chips!", hash)).toBe(true);
  });

  it("never verifies against the dummy hash or a malformed one", async () => {
    expect(await verifyPassword("anything at all", DUMMY_PASSWORD_HASH)).toBe(false);
    expect(await verifyPassword("anything at all", "md5$abc")).toBe(false);
  });
});
