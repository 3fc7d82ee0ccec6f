/**
 * Room: one chat room per object, holding its members' WebSockets with the Hibernation API so that an idle room
 * costs nothing. The platform callbacks here restore each connection from its attachment and hand the work to the
 * decisions in `room-state.ts`; messages are ordered, stored in SQLite (the last ROOM_HISTORY) and broadcast
 * without an `await` in between, so every member gets every message in seq order.
 *
 * Reached by the Worker only: `fetch` (the WebSocket upgrade, with the user, id and expiry the Worker took from a
 * verified ticket) and RPC `publish` / `info`. Each ticket opens one socket: its id is remembered in SQLite until the
 * ticket expires. Every frame a client sends counts against its rate, whatever it is.
 */
import { DurableObject } from "cloudflare:workers";
import { overLimit, problem } from "../http/problem";
import {
  CLOSE,
  type ErrorFrame,
  PING_FRAME,
  PONG_FRAME,
  parseClientFrame,
  type RoomMessage,
  type ServerFrame,
  type WelcomeFrame,
} from "../protocol/room-protocol";
import { type Settings, settings } from "../settings";
import { type HistoryStore, members, presenceAfterJoin, presenceAfterLeave, RateWindow, RoomLog } from "./room-state";

/** Headers the Worker sets on the upgrade request it forwards: the user, id and expiry of the verified ticket. */
export const ROOM_USER_HEADER = "x-edgeloop-room-user";
export const ROOM_TICKET_ID_HEADER = "x-edgeloop-room-ticket-id";
export const ROOM_TICKET_EXP_HEADER = "x-edgeloop-room-ticket-exp";

/** What each socket carries through hibernation (serializeAttachment), under the project's own key. */
interface Connection {
  user: string;
  id: string;
  joinedAt: number;
  /** Set once the connection's departure has been announced, so close + error announce `left` once. */
  left?: true;
}
const KEY = "edgeloop.room";
type Attachment = { [KEY]: Connection };

export interface RoomInfo {
  members: string[];
  count: number;
  connections: number;
  lastSeq: number;
}

class SqlHistory implements HistoryStore {
  constructor(private readonly sql: SqlStorage) {}

  lastSeq(): number {
    const row = this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'last_seq'").toArray()[0];
    return row?.value ?? 0;
  }

  append(m: RoomMessage, keep: number): void {
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES ('last_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      m.seq,
    );
    if (keep > 0) {
      this.sql.exec(
        "INSERT INTO messages (seq, id, sender, server, data, ts) VALUES (?, ?, ?, ?, ?, ?)",
        m.seq,
        m.id,
        m.from,
        m.server ? 1 : 0,
        JSON.stringify(m.data),
        m.ts,
      );
    }
    this.sql.exec("DELETE FROM messages WHERE seq <= ?", m.seq - keep);
  }

  after(since: number, limit: number): RoomMessage[] {
    const rows = this.sql
      .exec<{ seq: number; id: string; sender: string; server: number; data: string; ts: number }>(
        "SELECT seq, id, sender, server, data, ts FROM messages WHERE seq > ? ORDER BY seq DESC LIMIT ?",
        since,
        limit,
      )
      .toArray();
    return rows.reverse().map((r) => ({
      type: "message",
      seq: r.seq,
      id: r.id,
      from: r.sender,
      server: r.server === 1,
      data: JSON.parse(r.data) as unknown,
      ts: r.ts,
    }));
  }
}

export class Room extends DurableObject<Env> {
  private readonly settings: Settings;
  private readonly log: RoomLog;
  /** Rate windows by connection id. Memory only: hibernation (after the room idles) starts them afresh. */
  private readonly rates = new Map<string, RateWindow>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.settings = settings(env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, sender TEXT NOT NULL, data TEXT NOT NULL, ts INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS used_tickets (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS used_tickets_exp ON used_tickets (exp);
    `);
    // Rooms created before messages carried who sent them: their kept messages read as members' (server = 0).
    const columns = ctx.storage.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('messages')").toArray();
    if (!columns.some((c) => c.name === "server")) {
      ctx.storage.sql.exec("ALTER TABLE messages ADD COLUMN server INTEGER NOT NULL DEFAULT 0");
    }
    this.log = new RoomLog(new SqlHistory(ctx.storage.sql), this.settings.ROOM_HISTORY);
    // Pings are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  /** The WebSocket upgrade, forwarded by the Worker after it checked the ticket and the Origin. */
  override async fetch(request: Request): Promise<Response> {
    const user = request.headers.get(ROOM_USER_HEADER);
    const ticketId = request.headers.get(ROOM_TICKET_ID_HEADER);
    const ticketExp = Number(request.headers.get(ROOM_TICKET_EXP_HEADER));
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !user || !ticketId || !ticketExp) {
      return problem(400, "Not an upgrade.").getResponse();
    }
    const now = Date.now();
    this.ctx.storage.sql.exec("DELETE FROM used_tickets WHERE exp <= ?", now);
    if (this.ctx.storage.sql.exec("SELECT 1 FROM used_tickets WHERE jti = ?", ticketId).toArray().length > 0) {
      const detail =
        "This ticket has been used: a ticket opens one socket. Ask POST /v1/rooms/{room}/tickets for another.";
      return problem(401, detail, { type: "ticket-used" }).getResponse();
    }
    const open = this.openConnections();
    const refused = this.overCapacity(open, user);
    if (refused) return refused;
    // Spent only now that it opens a socket: a ticket refused for a full room may be tried again.
    this.ctx.storage.sql.exec("INSERT INTO used_tickets (jti, exp) VALUES (?, ?)", ticketId, ticketExp);
    const sinceParam = new URL(request.url).searchParams.get("since");
    const since = sinceParam === null ? undefined : Number(sinceParam);

    const { 0: client, 1: server } = new WebSocketPair();
    const connection: Connection = { user, id: crypto.randomUUID(), joinedAt: now };
    this.ctx.acceptWebSocket(server, [`user:${user.slice(0, 200)}`]);
    server.serializeAttachment({ [KEY]: connection } satisfies Attachment);

    const usersBefore = open.map((c) => c.connection.user);
    const present = members([...usersBefore, user]);
    const welcome: WelcomeFrame = {
      type: "welcome",
      self: { user, id: connection.id },
      members: present,
      count: present.length,
      lastSeq: this.log.lastSeq,
      history: this.log.history(since),
    };
    server.send(JSON.stringify(welcome));
    const joined = presenceAfterJoin(usersBefore, user);
    if (joined) this.broadcast(joined, server);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Post a message into the room from the server side (HTTP `POST /v1/rooms/:room/messages`, job progress): every
   * member gets it with `server: true`, which no member's message carries.
   *
   * @example
   * const { seq } = await env.ROOM.getByName(`job:${id}`).publish("jobs", { kind: "job-progress", id, ... });
   */
  async publish(from: string, data: unknown): Promise<{ seq: number }> {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("data must be JSON-serialisable");
    const max = this.settings.ROOM_MAX_MESSAGE_BYTES;
    if (new TextEncoder().encode(text).byteLength > max) {
      throw new RangeError(`data is larger than ROOM_MAX_MESSAGE_BYTES (${max} bytes)`);
    }
    const message = this.log.append({ from, server: true, data, id: crypto.randomUUID(), ts: Date.now() });
    this.broadcast(message);
    return { seq: message.seq };
  }

  /** Who is present and the last seq. */
  async info(): Promise<RoomInfo> {
    const open = this.openConnections();
    const present = members(open.map((c) => c.connection.user));
    return { members: present, count: present.length, connections: open.length, lastSeq: this.log.lastSeq };
  }

  override webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): void {
    const connection = connectionOf(ws);
    if (!connection || connection.left) return;
    // Every frame counts, before anything else: a malformed frame or a ping variant wakes the room as a message does.
    // (The exact PING_FRAME never gets here: the runtime answers it without waking the room.)
    const verdict = this.rateOf(connection).hit(Date.now());
    if (verdict === "limited") {
      send(ws, {
        type: "error",
        code: "rate-limited",
        message: `Slow down: ROOM_RATE_MESSAGES (${this.settings.ROOM_RATE_MESSAGES}) per ROOM_RATE_WINDOW_SECONDS (${this.settings.ROOM_RATE_WINDOW_SECONDS}); more closes the connection.`,
      } satisfies ErrorFrame);
      return;
    }
    if (verdict === "close") {
      this.closeAndLeave(ws, connection, CLOSE.policy, "rate limit exceeded (ROOM_RATE_MESSAGES)");
      return;
    }
    const parsed = parseClientFrame(raw, this.settings.ROOM_MAX_MESSAGE_BYTES);
    if (!parsed.ok) {
      if ("close" in parsed) this.closeAndLeave(ws, connection, parsed.close.code, parsed.close.reason);
      else send(ws, parsed.error);
      return;
    }
    const frame = parsed.frame;
    if (frame.type === "ping") {
      send(ws, { type: "pong" });
      return;
    }
    const id = frame.id ?? crypto.randomUUID();
    const message = this.log.append({ from: connection.user, server: false, data: frame.data, id, ts: Date.now() });
    this.broadcast(message);
    send(ws, { type: "ack", id, seq: message.seq });
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    const connection = connectionOf(ws);
    if (connection) this.leave(ws, connection);
    try {
      // With web_socket_auto_reply_to_close the runtime has already answered; on older dates this completes it.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  override webSocketError(ws: WebSocket): void {
    const connection = connectionOf(ws);
    if (connection) this.closeAndLeave(ws, connection, 1011, "connection error");
  }

  /** The refusal of a socket for `user` when the room, or the user's share of it, is full; else null. */
  private overCapacity(open: { connection: Connection }[], user: string): Response | null {
    const max = this.settings.ROOM_MAX_CONNECTIONS;
    if (open.length >= max) {
      const detail = `The room is full: it holds ROOM_MAX_CONNECTIONS (${max}) connections.`;
      return overLimit("ROOM_MAX_CONNECTIONS", max, detail, {
        status: 429,
        type: "room-full",
        headers: { "retry-after": "5" },
      }).getResponse();
    }
    const perUser = this.settings.ROOM_MAX_SOCKETS_PER_USER;
    if (open.filter((c) => c.connection.user === user).length >= perUser) {
      const detail = `${user} already holds ROOM_MAX_SOCKETS_PER_USER (${perUser}) sockets in this room: close one first.`;
      return overLimit("ROOM_MAX_SOCKETS_PER_USER", perUser, detail, {
        status: 429,
        type: "too-many-sockets",
        headers: { "retry-after": "5" },
      }).getResponse();
    }
    return null;
  }

  private rateOf(connection: Connection): RateWindow {
    let rate = this.rates.get(connection.id);
    if (!rate) {
      rate = new RateWindow(this.settings.ROOM_RATE_MESSAGES, this.settings.ROOM_RATE_WINDOW_SECONDS * 1000);
      this.rates.set(connection.id, rate);
    }
    return rate;
  }

  private closeAndLeave(ws: WebSocket, connection: Connection, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
    this.leave(ws, connection);
  }

  /** Announce a departure once per connection: close and error can both report the same socket. */
  private leave(ws: WebSocket, connection: Connection): void {
    if (connection.left) return;
    try {
      ws.serializeAttachment({ [KEY]: { ...connection, left: true } } satisfies Attachment);
    } catch {
      // a socket that is gone cannot take an attachment: openConnections() skips it by its state anyway
    }
    this.rates.delete(connection.id);
    const remaining = this.openConnections().filter((c) => c.connection.id !== connection.id);
    const left = presenceAfterLeave(
      remaining.map((c) => c.connection.user),
      connection.user,
    );
    if (left) this.broadcast(left, ws);
  }

  /**
   * The connections still open, rebuilt from the runtime after any hibernation. `getWebSockets()` can return
   * sockets that are closing: those, and those whose departure was announced, are not members.
   */
  private openConnections(): { ws: WebSocket; connection: Connection }[] {
    const open: { ws: WebSocket; connection: Connection }[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const connection = connectionOf(ws);
      if (connection && !connection.left) open.push({ ws, connection });
    }
    return open;
  }

  private broadcast(frame: ServerFrame, except?: WebSocket): void {
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      if (ws === except || ws.readyState !== WebSocket.OPEN) continue;
      try {
        ws.send(text);
      } catch {
        // closing under us: its close handler announces the departure
      }
    }
  }
}

function connectionOf(ws: WebSocket): Connection | undefined {
  const attachment = ws.deserializeAttachment() as Partial<Attachment> | null;
  return attachment?.[KEY];
}

function send(ws: WebSocket, frame: ServerFrame): void {
  try {
    ws.send(JSON.stringify(frame));
  } catch {
    // closing under us
  }
}
