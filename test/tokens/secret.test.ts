/**
 * A token secret's check (an HMAC under the Tokens object's key, src/tokens/secret.ts): what lets an isolate refuse a
 * made-up secret without calling the object. In workerd: it compares with crypto.subtle.timingSafeEqual.
 */
import { describe, expect, it } from "vitest";
import { checked, newKey, newSecret, SECRET_SHAPE } from "../../src/tokens/secret";

describe("secrets", () => {
  it("carry their check: a made-up or altered secret fails it, another key's secret too", async () => {
    const key = newKey();
    const secret = await newSecret(key);
    expect(secret).toMatch(SECRET_SHAPE);
    expect(await checked(key, secret)).toBe(true);
    const flip = (s: string, i: number) => `${s.slice(0, i)}${s[i] === "A" ? "B" : "A"}${s.slice(i + 1)}`;
    expect(await checked(key, flip(secret, 10))).toBe(false);
    expect(await checked(key, flip(secret, secret.length - 1))).toBe(false);
    expect(await checked(key, `elk_${"A".repeat(65)}`)).toBe(false);
    expect(await checked(newKey(), secret)).toBe(false);
    expect(await checked(key, `${secret}x`)).toBe(false);
    expect(await newSecret(key)).not.toBe(secret);
  });
});
