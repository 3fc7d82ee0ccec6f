/**
 * Room: one chat room per object, holding its members' WebSockets with the Hibernation API so that an idle room
 * costs nothing. While awake it keeps each open socket's connection (user, id, rate) in memory, rebuilt from the
 * sockets' attachments when it wakes, and hands the work to the decisions in `room-state.ts`; messages are ordered,
 * stored in SQLite (the last ROOM_HISTORY) and broadcast without an `await` in between, so every member gets every
 * message in seq order. Joins and departures are announced at most once per ROOM_PRESENCE_TICK_MS, together, and
 * always before the next message.
 *
 * Reached by the Worker only: `fetch` (the WebSocket upgrade, with the user, id and expiry the Worker took from a
 * verified ticket, and the join limit of its settings) and RPC `publish` / `info`. Each ticket opens one socket: its
 * id is remembered in SQLite until the ticket expires. Each user's joins are limited (GCRA, in SQLite). Every frame
 * a client sends counts against its rate, whatever it is.
 */
import { DurableObject } from "cloudflare:workers";
import { gcra } from "../async";
import { overLimit, problem } from "../http/problem";
import { rateLimited } from "../http/rate-limit";
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
import { type HistoryStore, Presence, RateWindow, RoomLog } from "./room-state";

/**
 * Headers the Worker sets on the upgrade request it forwards: the user, id and expiry of the verified ticket, and
 * the join limit of its settings (API_RATE_LIMIT joins per API_RATE_PERIOD_MS per user, 0: off).
 */
export const ROOM_USER_HEADER = "x-edgeloop-room-user";
export const ROOM_TICKET_ID_HEADER = "x-edgeloop-room-ticket-id";
export const ROOM_TICKET_EXP_HEADER = "x-edgeloop-room-ticket-exp";
export const ROOM_JOIN_LIMIT_HEADER = "x-edgeloop-room-join-limit";
export const ROOM_JOIN_PERIOD_HEADER = "x-edgeloop-room-join-period";

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

/** What the room holds in memory for each open socket while awake. */
interface Member {
  connection: Connection;
  /** Its rate window. Memory only: hibernation (after the room idles) starts it afresh. */
  rate?: RateWindow;
  /** Set while it has not had a presence frame since its welcome: the presence changes its welcome included. */
  mark?: number;
}

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
  /** The open sockets and who is present, rebuilt from the sockets on first use after the room wakes. */
  #members: Map<WebSocket, Member> | undefined;
  readonly #presence = new Presence();
  /** The timer of the next presence frame, while changes wait for it. */
  #tick: ReturnType<typeof setTimeout> | undefined;
  /** When presence was last announced: the next frame goes out no sooner than ROOM_PRESENCE_TICK_MS after. */
  #announcedAt = 0;

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
      CREATE TABLE IF NOT EXISTS join_rates (user TEXT PRIMARY KEY, tat INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS join_rates_tat ON join_rates (tat);
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
    const limited = this.joinLimit(request.headers, user, now);
    if (limited) return limited;
    this.ctx.storage.sql.exec("DELETE FROM used_tickets WHERE exp <= ?", now);
    if (this.ctx.storage.sql.exec("SELECT 1 FROM used_tickets WHERE jti = ?", ticketId).toArray().length > 0) {
      const detail =
        "This ticket has been used: a ticket opens one socket. Ask POST /v1/rooms/{room}/tickets for another.";
      return problem(401, detail, { type: "ticket-used" }).getResponse();
    }
    const members = this.members();
    const refused = this.overCapacity(members.size, user);
    if (refused) return refused;
    // Spent only now that it opens a socket: a ticket refused for a full room may be tried again.
    this.ctx.storage.sql.exec("INSERT INTO used_tickets (jti, exp) VALUES (?, ?)", ticketId, ticketExp);
    const sinceParam = new URL(request.url).searchParams.get("since");
    const since = sinceParam === null ? undefined : Number(sinceParam);

    const { 0: client, 1: server } = new WebSocketPair();
    const connection: Connection = { user, id: crypto.randomUUID(), joinedAt: now };
    this.ctx.acceptWebSocket(server, [`user:${user.slice(0, 200)}`]);
    server.serializeAttachment({ [KEY]: connection } satisfies Attachment);

    this.#presence.add(user);
    // Its welcome lists who is here now: of this tick's changes it gets only those that come after.
    members.set(server, { connection, mark: this.#presence.mark });
    this.announceSoon();
    const welcome: WelcomeFrame = {
      type: "welcome",
      self: { user, id: connection.id },
      members: this.#presence.members(),
      count: this.#presence.count,
      lastSeq: this.log.lastSeq,
      history: this.log.history(since),
    };
    server.send(JSON.stringify(welcome));
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
    const connections = this.members().size;
    const present = this.#presence.members();
    return { members: present, count: present.length, connections, lastSeq: this.log.lastSeq };
  }

  override webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): void {
    const member = this.members().get(ws);
    if (!member) return;
    const { connection } = member;
    // Every frame counts, before anything else: a malformed frame or a ping variant wakes the room as a message does.
    // (The exact PING_FRAME never gets here: the runtime answers it without waking the room.)
    member.rate ??= new RateWindow(this.settings.ROOM_RATE_MESSAGES, this.settings.ROOM_RATE_WINDOW_SECONDS * 1000);
    const verdict = member.rate.hit(Date.now());
    if (verdict === "limited") {
      send(ws, {
        type: "error",
        code: "rate-limited",
        message: `Slow down: ROOM_RATE_MESSAGES (${this.settings.ROOM_RATE_MESSAGES}) per ROOM_RATE_WINDOW_SECONDS (${this.settings.ROOM_RATE_WINDOW_SECONDS}); more closes the connection.`,
      } satisfies ErrorFrame);
      return;
    }
    if (verdict === "close") {
      this.closeAndLeave(ws, CLOSE.policy, "rate limit exceeded (ROOM_RATE_MESSAGES)");
      return;
    }
    const parsed = parseClientFrame(raw, this.settings.ROOM_MAX_MESSAGE_BYTES);
    if (!parsed.ok) {
      if ("close" in parsed) this.closeAndLeave(ws, parsed.close.code, parsed.close.reason);
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
    this.leave(ws);
    try {
      // With web_socket_auto_reply_to_close the runtime has already answered; on older dates this completes it.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  override webSocketError(ws: WebSocket): void {
    this.closeAndLeave(ws, 1011, "connection error");
  }

  /**
   * Count a join of `user` against the limit the Worker passed (GCRA, one row per user who joined within the period:
   * an idle user's row is deleted, a full bucket as if never seen); the 429 when it is over, else null.
   */
  private joinLimit(headers: Headers, user: string, now: number): Response | null {
    const limits = {
      limit: Number(headers.get(ROOM_JOIN_LIMIT_HEADER)),
      periodMs: Number(headers.get(ROOM_JOIN_PERIOD_HEADER)),
    };
    if (!(limits.limit > 0 && limits.periodMs > 0)) return null;
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM join_rates WHERE tat <= ?", now);
    const stored = sql.exec<{ tat: number }>("SELECT tat FROM join_rates WHERE user = ?", user).toArray()[0];
    const d = gcra(stored?.tat ?? 0, now, limits);
    if (!d.allowed) return rateLimited(limits, d, "API_RATE_LIMIT").getResponse();
    sql.exec("INSERT OR REPLACE INTO join_rates (user, tat) VALUES (?, ?)", user, d.tat);
    return null;
  }

  /** The refusal of a socket for `user` when the room, or the user's share of it, is full; else null. */
  private overCapacity(open: number, user: string): Response | null {
    const max = this.settings.ROOM_MAX_CONNECTIONS;
    if (open >= max) {
      const detail = `The room is full: it holds ROOM_MAX_CONNECTIONS (${max}) connections.`;
      return overLimit("ROOM_MAX_CONNECTIONS", max, detail, {
        status: 429,
        type: "room-full",
        headers: { "retry-after": "5" },
      }).getResponse();
    }
    const perUser = this.settings.ROOM_MAX_SOCKETS_PER_USER;
    if (this.#presence.connectionsOf(user) >= perUser) {
      const detail = `${user} already holds ROOM_MAX_SOCKETS_PER_USER (${perUser}) sockets in this room: close one first.`;
      return overLimit("ROOM_MAX_SOCKETS_PER_USER", perUser, detail, {
        status: 429,
        type: "too-many-sockets",
        headers: { "retry-after": "5" },
      }).getResponse();
    }
    return null;
  }

  private closeAndLeave(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
    this.leave(ws);
  }

  /**
   * A connection ends: its user leaves with its last connection, announced with the next presence frame. Once per
   * connection (close and error can both report the same socket), marked in its attachment so that a room woken from
   * hibernation does not count it again.
   */
  private leave(ws: WebSocket): void {
    const members = this.members();
    const member = members.get(ws);
    // A socket the room did not hold: one already closing when the room woke. Its attachment says if it was a member.
    const connection = member?.connection ?? connectionOf(ws);
    if (!connection || connection.left) return;
    try {
      ws.serializeAttachment({ [KEY]: { ...connection, left: true } } satisfies Attachment);
    } catch {
      // a socket that is gone cannot take an attachment: a woken room skips it by its state anyway
    }
    if (member) {
      members.delete(ws);
      this.#presence.remove(connection.user);
    } else this.#presence.removeUnknown(connection.user);
    this.announceSoon();
  }

  /**
   * The open sockets, each with its connection: kept in memory while the room is awake, rebuilt from the runtime's
   * sockets the first time after it woke. `getWebSockets()` can return sockets that are closing: those, and those
   * whose departure was announced, are not members.
   */
  private members(): Map<WebSocket, Member> {
    if (this.#members) return this.#members;
    this.#members = new Map();
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const connection = connectionOf(ws);
      if (!connection || connection.left) continue;
      this.#members.set(ws, { connection });
      this.#presence.add(connection.user);
    }
    // Members who were here before the room slept were told about each other then.
    this.#presence.endTick();
    return this.#members;
  }

  /**
   * Announce the joins and departures so far at most once per ROOM_PRESENCE_TICK_MS: at once after a quiet tick, else
   * when the tick that started with the last frame ends, together with whatever else changed meanwhile.
   */
  private announceSoon(): void {
    if (this.#tick !== undefined || !this.#presence.pending) return;
    const wait = this.#announcedAt + this.settings.ROOM_PRESENCE_TICK_MS - Date.now();
    if (wait <= 0) this.announce();
    else this.#tick = setTimeout(() => this.announce(), wait);
  }

  /**
   * Send this tick's presence frame: one text for every member who was here before the tick, and to each member who
   * joined during it the changes since its welcome (nothing if there are none).
   */
  private announce(): void {
    clearTimeout(this.#tick);
    this.#tick = undefined;
    if (!this.#presence.pending) return;
    this.#announcedAt = Date.now();
    const shared = this.#presence.frameSince(0);
    const text = shared && JSON.stringify(shared);
    for (const [ws, member] of this.members()) {
      if (member.mark === undefined) {
        if (text) sendText(ws, text);
        continue;
      }
      const frame = this.#presence.frameSince(member.mark);
      member.mark = undefined;
      if (frame) sendText(ws, JSON.stringify(frame));
    }
    this.#presence.endTick();
  }

  /** Send `frame` to every member, serialised once; presence waiting for its tick goes out first. */
  private broadcast(frame: ServerFrame): void {
    this.announce();
    const text = JSON.stringify(frame);
    for (const ws of this.members().keys()) sendText(ws, text);
  }
}

function connectionOf(ws: WebSocket): Connection | undefined {
  const attachment = ws.deserializeAttachment() as Partial<Attachment> | null;
  return attachment?.[KEY];
}

function send(ws: WebSocket, frame: ServerFrame): void {
  sendText(ws, JSON.stringify(frame));
}

function sendText(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // closing under us: its close handler announces the departure
  }
}
