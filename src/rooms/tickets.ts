/**
 * Room tickets: short-lived, HMAC-SHA256-signed tokens naming one room and one user, so that browsers (which
 * cannot send an Authorization header on a WebSocket) can join a room. A ticket is
 * `base64url(JSON {v, room, user, exp, jti}) "." base64url(HMAC-SHA256(secret, payload))`, checked in constant time.
 *
 * Tickets are single-use: `jti` is a random id the Room object remembers from the socket it opened until the ticket
 * expires (at most ROOM_TICKET_MAX_TTL_SECONDS), so a leaked ticket opens one socket at most. A ticket names no
 * layout: minting one reaches no object; the upgrade finds the room's layout (in a sharded room, the RoomShard of the
 * ticket's user remembers its `jti`). A ticket minted in a namespace (by a scoped token of one, or the root token
 * acting in one) names it (`ns`), and the upgrade joins the room of that namespace; `by` names the scoped token that
 * minted it.
 */

import { fromBase64Url, hmacSign, hmacVerify, toBase64Url } from "../http/hmac";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface TicketClaims {
  room: string;
  user: string;
  /** Expiry, milliseconds since the epoch. */
  exp: number;
  /** The ticket's own random id (128 bits, base64url): a room takes each one once. */
  jti: string;
  /** Minted by a demo route: its socket counts against DEMO_RATE_LIMIT. */
  demo?: true;
  /** The namespace of the room (none: the plain name), and the id of the scoped token that minted the ticket. */
  ns?: string;
  by?: string;
}

/** Why a ticket was refused: `invalid` (forged, malformed), `expired`, or `wrong-room`. */
export type TicketRefusal = "invalid" | "expired" | "wrong-room";

export type TicketCheck = { ok: true; claims: TicketClaims } | { ok: false; reason: TicketRefusal };

/**
 * Sign a ticket for `user` in `room`, valid for `ttlSec` seconds from `now`.
 *
 * @example
 * const ticket = await signTicket(env.ROOM_TICKET_SECRET, { room: "lobby", user: "ada", ttlSec: 60 });
 */
export async function signTicket(
  secret: string,
  {
    room,
    user,
    ttlSec,
    demo,
    ns,
    by,
  }: { room: string; user: string; ttlSec: number; demo?: true; ns?: string; by?: string },
  now: number = Date.now(),
): Promise<{ ticket: string; claims: TicketClaims }> {
  const jti = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  const claims: TicketClaims = {
    room,
    user,
    exp: now + ttlSec * 1000,
    jti,
    ...(demo ? { demo } : {}),
    ...(ns === undefined ? {} : { ns }),
    ...(by === undefined ? {} : { by }),
  };
  const payload = toBase64Url(encoder.encode(JSON.stringify({ v: 2, ...claims })));
  return { ticket: `${payload}.${await hmacSign(secret, payload)}`, claims };
}

/**
 * Check a ticket's signature, expiry and room. The signature is verified first (in constant time, by WebCrypto),
 * so nothing in a forged ticket is believed.
 *
 * @example
 * const check = await verifyTicket(secret, ticket, "lobby");
 * if (!check.ok) throw problem(check.reason === "wrong-room" ? 403 : 401, ...);
 */
export async function verifyTicket(
  secret: string,
  ticket: string,
  room: string,
  now: number = Date.now(),
): Promise<TicketCheck> {
  const [payload, signature, ...rest] = ticket.split(".");
  if (!payload || !signature || rest.length > 0 || ticket.length > 4096) return { ok: false, reason: "invalid" };
  const body = fromBase64Url(payload);
  if (!body || !(await hmacVerify(secret, payload, signature))) return { ok: false, reason: "invalid" };
  let claims: unknown;
  try {
    claims = JSON.parse(decoder.decode(body));
  } catch {
    return { ok: false, reason: "invalid" };
  }
  if (!isClaims(claims)) return { ok: false, reason: "invalid" };
  if (claims.exp <= now) return { ok: false, reason: "expired" };
  if (claims.room !== room) return { ok: false, reason: "wrong-room" };
  const { user, exp, jti, demo, ns, by } = claims;
  return {
    ok: true,
    claims: {
      room,
      user,
      exp,
      jti,
      ...(demo ? { demo } : {}),
      ...(ns === undefined ? {} : { ns }),
      ...(by === undefined ? {} : { by }),
    },
  };
}

/** Version 2 (with `jti`); version 1 tickets (without one) are refused. */
function isClaims(value: unknown): value is TicketClaims & { v: 2 } {
  if (typeof value !== "object" || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    c.v === 2 &&
    typeof c.room === "string" &&
    typeof c.user === "string" &&
    typeof c.exp === "number" &&
    typeof c.jti === "string" &&
    /^[A-Za-z0-9_-]{16,64}$/.test(c.jti) &&
    (c.demo === undefined || c.demo === true) &&
    (c.ns === undefined || typeof c.ns === "string") &&
    (c.by === undefined || typeof c.by === "string")
  );
}
