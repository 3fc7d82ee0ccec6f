import { describe, expect, it } from "vitest";
import { signTicket, verifyTicket } from "../../src/rooms/tickets";

const SECRET = "unit-secret";
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Another character in place of `c`: a base64url digit with its top bit flipped (always a bit of the encoded bytes,
 * never padding), anything else (the dot) becomes a digit.
 */
const flip = (c: string): string => {
  const value = BASE64URL.indexOf(c);
  return value < 0 ? "A" : (BASE64URL[value ^ 0b100000] as string);
};
const NOW = 1_800_000_000_000;

describe("room tickets", () => {
  it("verify for the room and user they were signed for until they expire", async () => {
    const { ticket, claims } = await signTicket(SECRET, { room: "lobby", user: "ada", ttlSec: 60 }, NOW);
    expect(claims).toEqual({
      room: "lobby",
      user: "ada",
      exp: NOW + 60_000,
      jti: expect.stringMatching(/^[\w-]{22}$/),
    });
    expect(await verifyTicket(SECRET, ticket, "lobby", NOW + 59_999)).toEqual({ ok: true, claims });
    expect(await verifyTicket(SECRET, ticket, "lobby", NOW + 60_000)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuse another room, another secret and any edited byte", async () => {
    const { ticket } = await signTicket(SECRET, { room: "lobby", user: "ada", ttlSec: 60 }, NOW);
    expect(await verifyTicket(SECRET, ticket, "other", NOW)).toEqual({ ok: false, reason: "wrong-room" });
    expect(await verifyTicket("other-secret", ticket, "lobby", NOW)).toEqual({ ok: false, reason: "invalid" });
    const [payload, signature] = ticket.split(".") as [string, string];
    // A payload claiming another user, keeping the original signature.
    const claimsJson = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    const forgedPayload = btoa(JSON.stringify({ ...claimsJson, user: "mallory" }))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    expect(await verifyTicket(SECRET, `${forgedPayload}.${signature}`, "lobby", NOW)).toEqual({
      ok: false,
      reason: "invalid",
    });
    for (const junk of ["", ".", "a.b.c", "###.###", `${payload}.`, `${payload}.${signature}x`]) {
      expect(await verifyTicket(SECRET, junk, "lobby", NOW), junk).toEqual({ ok: false, reason: "invalid" });
    }
    // Every character of the ticket edited in turn: each edit changes what the ticket encodes.
    const accepted: string[] = [];
    for (let i = 0; i < ticket.length; i++) {
      const edited = `${ticket.slice(0, i)}${flip(ticket[i] as string)}${ticket.slice(i + 1)}`;
      const check = await verifyTicket(SECRET, edited, "lobby", NOW);
      if (check.ok || check.reason !== "invalid") accepted.push(`${i}: ${JSON.stringify(check)}`);
    }
    expect(ticket.length).toBeGreaterThan(60);
    expect(accepted).toEqual([]);
  });

  it("carry a random id each, so a room can take each ticket once; a ticket without one is refused", async () => {
    const a = await signTicket(SECRET, { room: "lobby", user: "ada", ttlSec: 60 }, NOW);
    const b = await signTicket(SECRET, { room: "lobby", user: "ada", ttlSec: 60 }, NOW);
    expect(a.claims.jti).not.toBe(b.claims.jti);
    // A correctly signed ticket of the first format (no jti) cannot be told apart from its copies: refused.
    const b64url = (bytes: Uint8Array) =>
      btoa(String.fromCharCode(...bytes))
        .replace(/\+/g, "-")
        .replace(/\//g, "_")
        .replace(/=+$/, "");
    const payload = b64url(
      new TextEncoder().encode(JSON.stringify({ v: 1, room: "lobby", user: "ada", exp: NOW + 60_000 })),
    );
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const sig = b64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload))));
    expect(await verifyTicket(SECRET, `${payload}.${sig}`, "lobby", NOW)).toEqual({ ok: false, reason: "invalid" });
  });
});
