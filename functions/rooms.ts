/**
 * Rooms: WebSocket chat rooms on the Room Durable Object.
 *
 *   POST /v1/rooms/:room/tickets   (bearer) a short-lived signed ticket naming room and user, and the ws URL
 *   GET  /v1/rooms/:room/ws        (ticket) the WebSocket upgrade, refused before it for a bad ticket or Origin
 *                                  (`roomSockets`, mounted apart: no bearer token)
 *   POST /v1/rooms/:room/messages  (bearer) publish from the server side
 *   GET  /v1/rooms/:room           (bearer) members and last seq
 *   PUT  /v1/rooms/:room/shards    (bearer) split the room over K socket-holding shards, before it has members
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type AppEnv, createApp, scope } from "../src/http/app";
import { objectName, principalOf } from "../src/http/principal";
import { overLimit, Problem, problem } from "../src/http/problem";
import { jsonBody, jsonResponse, Name, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import { requireSecret } from "../src/http/secrets";
import {
  JOBS_SENDER,
  nameKey,
  ROOM_JOIN_LIMIT_HEADER,
  ROOM_JOIN_PERIOD_HEADER,
  ROOM_SHARDS_HEADER,
  ROOM_TICKET_EXP_HEADER,
  ROOM_TICKET_ID_HEADER,
  ROOM_USER_HEADER,
  refusedSocket,
  SERVER_SENDER,
  shardName,
  shardOf,
  signTicket,
  TicketRequest,
  UserName,
  verifyTicket,
} from "../src/rooms";
import { settings } from "../src/settings";
import { countDemoSocket } from "./demo";

const route = routesOf("rooms");

const RoomParams = z.object({ room: Name.openapi({ param: { name: "room", in: "path" }, example: "lobby" }) });

const TicketResponse = z
  .object({
    ticket: z.string(),
    url: z.string().openapi({ example: "ws://127.0.0.1:8787/v1/rooms/lobby/ws?ticket=..." }),
    room: z.string(),
    user: z.string(),
    expiresAt: z.string().openapi({ example: "2026-11-26T12:00:00.000Z" }),
  })
  .openapi("Ticket");

const PublishRequest = z
  .object({
    data: z.unknown().openapi({ example: { text: "deploy finished" } }),
    from: UserName.refine((from) => nameKey(from) !== JOBS_SENDER, {
      message: `"${JOBS_SENDER}" is reserved for the jobs' own progress`,
    })
      .optional()
      .openapi({
        description: `Sender shown to members (default "${SERVER_SENDER}"); any name but "${JOBS_SENDER}", which only a job's progress carries. Members get the message with server: true.`,
      }),
  })
  .strict()
  .openapi("PublishRequest");

const RoomInfo = z
  .object({
    room: z.string(),
    members: z.array(z.string()),
    count: z.number().int(),
    connections: z.number().int(),
    lastSeq: z.number().int(),
    // Sharded rooms only (docs/rooms.md): K, open sockets per shard, calls between the sequencer and its shards.
    shards: z.number().int().optional(),
    sockets: z.array(z.number().int()).optional(),
    calls: z.object({ fromShards: z.number().int(), toShards: z.number().int() }).optional(),
  })
  .openapi("RoomInfo");

const ShardsRequest = z
  .object({ shards: z.number().int().min(1).openapi({ description: "1 to ROOM_MAX_SHARDS", example: 4 }) })
  .strict()
  .openapi("ShardsRequest");

const ShardsResponse = z.object({ room: z.string(), shards: z.number().int() }).openapi("RoomShards");

const ticketRoute = createRoute({
  ...route("post", "/{room}/tickets", "createRoomTicket", "Issue a ticket to join a room over WebSocket"),
  ...scope("rooms:ticket", "room"),
  request: { params: RoomParams, body: jsonBody(TicketRequest, { user: "ada", ttlSec: 60 }) },
  responses: {
    201: jsonResponse(TicketResponse, "A signed ticket and the URL to connect to"),
    ...problemDocs,
    503: problemDoc("ROOM_TICKET_SECRET is not configured"),
  },
});

const wsRoute = createRoute({
  ...route("get", "/{room}/ws", "joinRoom", "Join a room (WebSocket upgrade with a ticket)"),
  description:
    "Refused before the upgrade: 401 for a missing, forged, expired or already used ticket (a ticket opens one socket); 403 for another room's ticket or an Origin outside ROOM_ALLOWED_ORIGINS; 429 when the room holds ROOM_MAX_CONNECTIONS, when the ticket's user holds ROOM_MAX_SOCKETS_PER_USER sockets in it, or when the ticket's user joined this room more than API_RATE_LIMIT times per API_RATE_PERIOD_MS.",
  security: [],
  request: {
    params: RoomParams,
    query: z.object({
      ticket: z.string().optional().openapi({ description: "From POST /v1/rooms/{room}/tickets" }),
      since: z.coerce.number().int().min(0).optional().openapi({ description: "Last seq seen: history after it" }),
      refusal: z.literal("close").optional().openapi({
        description:
          "close: a refused join opens and closes at once with 4000 + the status and `<problem slug> <detail>` as the close reason (a WebSocket client cannot read a refused upgrade)",
      }),
    }),
  },
  responses: {
    101: { description: "Switching Protocols" },
    400: problemDocs[400],
    401: problemDoc("Missing, forged, expired or already used ticket"),
    403: problemDoc("Ticket for another room, or Origin not allowed"),
    409: problemDoc("The room's shards changed while joining, twice (ticket-stale): try again"),
    426: problemDoc("Not a WebSocket upgrade"),
    429: problemDoc(
      "The room is full (ROOM_MAX_CONNECTIONS), the user holds ROOM_MAX_SOCKETS_PER_USER sockets in it, or the ticket's user is over API_RATE_LIMIT",
    ),
    503: problemDoc("ROOM_TICKET_SECRET is not configured"),
  },
});

const publishRoute = createRoute({
  ...route("post", "/{room}/messages", "publishRoomMessage", "Publish a message into a room from the server side"),
  ...scope("rooms:publish", "room"),
  request: {
    params: RoomParams,
    body: jsonBody(PublishRequest, { data: { text: "deploy finished" }, from: "ci" }),
  },
  responses: {
    201: jsonResponse(z.object({ seq: z.number().int() }), "The message's place in the room's order"),
    ...problemDocs,
  },
});

const infoRoute = createRoute({
  ...route("get", "/{room}", "getRoom", "Members and last seq of a room"),
  ...scope("rooms:read", "room"),
  request: { params: RoomParams },
  responses: {
    200: jsonResponse(RoomInfo, "The room now"),
    ...problemDocs,
  },
});

const shardsRoute = createRoute({
  ...route("put", "/{room}/shards", "setRoomShards", "Split a room over K objects that hold its sockets"),
  ...scope("rooms:admin", "room"),
  description:
    "Before the room has had a member or a message; after, the same value is 200, another 409. A room of a kind with hooks (poll:…) is never sharded: 409 kind-not-shardable.",
  request: { params: RoomParams, body: jsonBody(ShardsRequest, { shards: 4 }) },
  responses: {
    200: jsonResponse(ShardsResponse, "The room's shards"),
    ...problemDocs,
    409: problemDoc("The room has had members or messages (its shards are fixed), or its kind is not shardable"),
  },
});

const ticketSecret = (env: Env): string => requireSecret(env, "ROOM_TICKET_SECRET", "rooms refuse tickets");

/** Rooms whose layout is fixed (they have had a member or a message), by object name, in this isolate. */
const fixedLayouts = new Map<string, number>();
const FIXED_LAYOUTS_KEPT = 10_000;

/** The room's shard count: from the isolate once it is fixed (unless `fresh`), else asked of the room. */
async function shardsOf(env: Env, room: string, fresh = false): Promise<number> {
  const known = fresh ? undefined : fixedLayouts.get(room);
  if (known !== undefined) return known;
  const { shards, fixed } = await env.ROOM.getByName(room).layout();
  if (fixed) {
    if (fixedLayouts.size >= FIXED_LAYOUTS_KEPT) fixedLayouts.clear();
    fixedLayouts.set(room, shards);
  }
  return shards;
}

/** Browsers always send Origin on a WebSocket handshake: it must be this worker's own or an allowed one. */
function checkOrigin(origin: string | undefined, requestUrl: string, env: Env): void {
  if (origin === undefined) return;
  const allowed = settings(env).ROOM_ALLOWED_ORIGINS;
  const normalised = origin.toLowerCase();
  if (normalised === new URL(requestUrl).origin || allowed.includes("*") || allowed.includes(normalised)) return;
  throw problem(403, `Origin ${origin} may not join rooms: it is not listed in ROOM_ALLOWED_ORIGINS.`, {
    type: "origin-not-allowed",
    extensions: { limit: "ROOM_ALLOWED_ORIGINS" },
  });
}

const REFUSALS = {
  invalid: [401, "The ticket is not valid (malformed or not signed by this service)."],
  expired: [401, "The ticket has expired: ask POST /v1/rooms/{room}/tickets for a new one."],
  "wrong-room": [403, "The ticket is for another room."],
} as const;

/** The upgrade, once it is one: checks the Origin and the ticket, and hands the socket to the room (or its shard). */
async function join(c: Context<AppEnv>, room: string, ticket?: string, since?: number): Promise<Response> {
  const secret = ticketSecret(c.env);
  checkOrigin(c.req.header("origin"), c.req.url, c.env);
  if (!ticket) {
    throw problem(401, "A ticket is required: ?ticket= from POST /v1/rooms/{room}/tickets.", {
      type: "ticket-missing",
    });
  }
  const check = await verifyTicket(secret, ticket, room);
  if (!check.ok) {
    const [status, detail] = REFUSALS[check.reason];
    throw problem(status, detail, { type: `ticket-${check.reason}` });
  }
  // A demo ticket's socket is a demo call: it counts against DEMO_RATE_LIMIT.
  if (check.claims.demo) await countDemoSocket(c);
  const headers = new Headers(c.req.raw.headers);
  headers.set(ROOM_USER_HEADER, check.claims.user);
  headers.set(ROOM_TICKET_ID_HEADER, check.claims.jti);
  headers.set(ROOM_TICKET_EXP_HEADER, String(check.claims.exp));
  // The room counts the ticket user's joins against the /v1 limit (one GCRA row per user in its own SQLite).
  const { API_RATE_LIMIT, API_RATE_PERIOD_MS } = settings(c.env);
  headers.set(ROOM_JOIN_LIMIT_HEADER, String(API_RATE_LIMIT));
  headers.set(ROOM_JOIN_PERIOD_HEADER, String(API_RATE_PERIOD_MS));
  const target = new URL("https://room/ws");
  if (since !== undefined) target.searchParams.set("since", String(since));
  // The room of the namespace the ticket was minted in: the signed claim, never the caller's say.
  const name = check.claims.ns === undefined ? room : `${check.claims.ns}/${room}`;
  /** The upgrade, sent to the room or, in a sharded room, to the shard that holds this user's sockets. */
  const upgrade = async (fresh: boolean) => {
    const shards = await shardsOf(c.env, name, fresh);
    let object: { fetch(request: Request): Promise<Response> } = c.env.ROOM.getByName(name);
    if (shards > 1) {
      headers.set(ROOM_SHARDS_HEADER, String(shards));
      object = c.env.ROOM_SHARD.getByName(shardName(name, shardOf(check.claims.user, shards)));
    } else headers.delete(ROOM_SHARDS_HEADER);
    return object.fetch(new Request(target, { headers }));
  };
  let res = await upgrade(false);
  if (res.status === 409) {
    // The layout changed under the join (set meanwhile, or forgotten with the room): once more, asked afresh.
    await res.body?.cancel();
    fixedLayouts.delete(name);
    res = await upgrade(true);
  }
  // A fresh Response: the middleware adds headers, and the one from the object is immutable.
  if (res.webSocket) return new Response(null, { status: 101, webSocket: res.webSocket });
  return new Response(res.body, res);
}

/**
 * The WebSocket upgrade, authorised by its ticket: the entry mounts it before the bearer auth and the per-token
 * limit that guard the rest of /v1 (browsers cannot send headers on a WebSocket). With `?refusal=close` a refused
 * join is a socket that closes at once with the refusal's status and type (src/rooms/refusal.ts).
 */
export const roomSockets = createApp()
  .openapi(wsRoute, async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw problem(426, "This endpoint only accepts a WebSocket upgrade.", { headers: { upgrade: "websocket" } });
    }
    const { room } = c.req.valid("param");
    const { ticket, since, refusal } = c.req.valid("query");
    if (refusal !== "close") return join(c, room, ticket, since);
    try {
      const res = await join(c, room, ticket, since);
      return res.webSocket ? res : refusedSocket(res);
    } catch (err) {
      if (err instanceof Problem) return refusedSocket(err.getResponse());
      throw err;
    }
  })
  .all("/:room/ws", (c) => {
    // Mounted before the bearer auth, so another method gets its answer here rather than a 401 for a missing token.
    throw problem(405, `${c.req.method} is not allowed here: the room socket is a GET WebSocket upgrade.`, {
      headers: { allow: "GET" },
    });
  });

/** The bearer-authorised rooms routes: tickets, server-side publishing, room info. */
export const rooms = createApp()
  .openapi(ticketRoute, async (c) => {
    const { room } = c.req.valid("param");
    const { user, ttlSec = 60 } = c.req.valid("json");
    const maxTtl = settings(c.env).ROOM_TICKET_MAX_TTL_SECONDS;
    if (ttlSec > maxTtl) {
      throw overLimit(
        "ROOM_TICKET_MAX_TTL_SECONDS",
        maxTtl,
        `ttlSec ${ttlSec} is above ROOM_TICKET_MAX_TTL_SECONDS (${maxTtl}).`,
      );
    }
    // Nothing is reached: a ticket request opens no object (the upgrade finds the room's layout).
    const { namespace: ns, id: by } = principalOf(c);
    const { ticket, claims } = await signTicket(ticketSecret(c.env), { room, user, ttlSec, ns, by });
    const url = new URL(`/v1/rooms/${encodeURIComponent(room)}/ws`, c.req.url);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = new URLSearchParams({ ticket }).toString();
    return c.json({ ticket, url: url.toString(), room, user, expiresAt: new Date(claims.exp).toISOString() }, 201);
  })
  .openapi(publishRoute, async (c) => {
    const { room } = c.req.valid("param");
    const { data, from = SERVER_SENDER } = c.req.valid("json");
    if (data === undefined) {
      throw problem(400, 'The request body is invalid: data: "data" is required.', {
        type: "invalid-request",
        extensions: { errors: [{ path: "data", message: "Required" }] },
      });
    }
    const max = settings(c.env).ROOM_MAX_MESSAGE_BYTES;
    const bytes = new TextEncoder().encode(JSON.stringify(data)).byteLength;
    if (bytes > max) {
      throw overLimit(
        "ROOM_MAX_MESSAGE_BYTES",
        max,
        `data is ${bytes} bytes, larger than ROOM_MAX_MESSAGE_BYTES (${max}).`,
        {
          status: 413,
          type: "message-too-large",
        },
      );
    }
    const { seq } = await c.env.ROOM.getByName(objectName(c, room)).publish(from, data);
    return c.json({ seq }, 201);
  })
  .openapi(shardsRoute, async (c) => {
    const { room } = c.req.valid("param");
    const { shards } = c.req.valid("json");
    const max = settings(c.env).ROOM_MAX_SHARDS;
    if (shards > max) {
      throw overLimit("ROOM_MAX_SHARDS", max, `shards ${shards} is above ROOM_MAX_SHARDS (${max}).`);
    }
    const answer = await c.env.ROOM.getByName(objectName(c, room)).setShards(shards);
    if (answer.kind) {
      throw problem(409, `A ${answer.kind} room runs its hooks in one object: it cannot be sharded.`, {
        type: "kind-not-shardable",
      });
    }
    if (!answer.ok) {
      throw problem(409, `The room has had members or messages: its shards are fixed at ${answer.shards}.`, {
        type: "shards-fixed",
        extensions: { shards: answer.shards },
      });
    }
    return c.json({ room, shards }, 200);
  })
  .openapi(infoRoute, async (c) => {
    const { room } = c.req.valid("param");
    const info = await c.env.ROOM.getByName(objectName(c, room)).info();
    return c.json({ room, ...info }, 200);
  });
