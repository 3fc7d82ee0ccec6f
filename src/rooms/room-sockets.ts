/**
 * What every object that holds a room's WebSockets shares: the Room (an unsharded room) and the RoomShard (one of a
 * sharded room's socket holders). It admits an upgrade the Worker forwarded after checking the ticket (the ticket
 * user's join limit, single-use tickets, room and per-user socket caps), accepts the socket with the Hibernation API,
 * keeps each open socket's connection in memory while awake (rebuilt from the attachments when it wakes), applies
 * the per-socket rules to every frame (rate, size, binary, ping) and notices departures once. What a frame or a
 * departure means is the subclass's: `received`, `departed`, `rebuilt`.
 *
 * Retention: every such object has one alarm (armed when it is first constructed, if it has none). When it fires on
 * an object that holds nobody (`occupied`), ROOM_RETENTION_HOURS after it was last used (`idle`: its last socket left,
 * or a message came while nobody was there), and once no ticket id or join rate it keeps is still needed, the object
 * deletes its storage (`clear`). An object with sockets is looked at again a retention later.
 */
import { DurableObject } from "cloudflare:workers";
import { gcra } from "../async";
import { overLimit, problem } from "../http/problem";
import { rateLimited } from "../ratelimits";
import { type Settings, settings } from "../settings";
import {
  CLOSE,
  type ClientFrame,
  type ErrorFrame,
  frameBytes,
  frameIdOf,
  PING_FRAME,
  PONG_FRAME,
  parseClientFrame,
  type ServerFrame,
} from "./protocol";
import { Presence, RateWindow } from "./room-state";

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
export interface Connection {
  user: string;
  id: string;
  joinedAt: number;
  /** Set once the connection's departure has been noticed, so close + error count it once. */
  left?: true;
  /** Sharded rooms: set once the socket had its welcome (frames of the room's stream go to it from then on). */
  ready?: true;
}
const KEY = "edgeloop.room";
type Attachment = { [KEY]: Connection };

/** What the object holds in memory for each open socket while awake. */
export interface Member {
  connection: Connection;
  /** Its rate window. Memory only: hibernation (after the object idles) starts it afresh. */
  rate?: RateWindow;
  /** Set while it has not had a presence frame since its welcome: the presence changes its welcome included. */
  mark?: number;
}

/** An upgrade the object admitted: the ticket's user and what the client asked for. */
export interface Admission {
  user: string;
  since: number | undefined;
  now: number;
  /** Give the ticket and the join back: the join was refused after all, for the service's own reasons. */
  undo(): void;
}

/** The tables every socket-holding object keeps; `clear` makes them again, empty. */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS used_tickets (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS used_tickets_exp ON used_tickets (exp);
  CREATE TABLE IF NOT EXISTS join_rates (user TEXT PRIMARY KEY, tat INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS join_rates_tat ON join_rates (tat);
  CREATE TABLE IF NOT EXISTS idle (since INTEGER NOT NULL);
`;

export abstract class RoomSockets extends DurableObject<Env> {
  protected readonly settings: Settings;
  /** Who holds this object's sockets, by user (connections counted): the per-user cap reads it. */
  protected presence = new Presence();
  /** The open sockets, rebuilt from the runtime's sockets on first use after the object wakes. */
  #members: Map<WebSocket, Member> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.settings = settings(env);
    ctx.storage.sql.exec(SCHEMA);
    // Pings are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    // Whatever call made this object, its storage has a retention: the alarm (one per object) is never missing.
    void ctx.blockConcurrencyWhile(async () => {
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + this.#retentionMs);
    });
  }

  /** A frame that passed the per-socket rules (rate, size, JSON shape), other than a ping. */
  protected abstract received(ws: WebSocket, member: Member, frame: Extract<ClientFrame, { type: "message" }>): void;
  /** A connection ended (once per connection). */
  protected abstract departed(connection: Connection): void;
  /** The sockets were rebuilt from the runtime's after the object woke. */
  protected abstract rebuilt(): void;
  /** Whether anyone is in the room through this object (then its storage is kept). */
  protected abstract occupied(): boolean;
  /** The storage was deleted (`clear`): make the subclass's tables again and forget what memory held of them. */
  protected abstract cleared(): void;

  get #retentionMs(): number {
    return this.settings.ROOM_RETENTION_HOURS * 3_600_000;
  }

  /** The room was used with nobody in it (its last socket left, a message came): its retention starts again. */
  protected idle(now = Date.now()): void {
    this.ctx.storage.sql.exec("DELETE FROM idle");
    this.ctx.storage.sql.exec("INSERT INTO idle (since) VALUES (?)", now);
    void this.ctx.storage.setAlarm(now + this.#retentionMs);
  }

  /**
   * The retention alarm (at least once). With somebody in, look again a retention later; else once it has been
   * idle ROOM_RETENTION_HOURS and no ticket id or join rate it keeps is needed any more, delete the storage.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    if (this.occupied()) {
      await this.ctx.storage.setAlarm(now + this.#retentionMs);
      return;
    }
    const sql = this.ctx.storage.sql;
    const latest = (query: string) => sql.exec<{ at: number | null }>(query).one().at ?? 0;
    const keep = Math.max(
      latest("SELECT MAX(since) AS at FROM idle") + this.#retentionMs,
      latest("SELECT MAX(exp) AS at FROM used_tickets"),
      latest("SELECT MAX(tat) AS at FROM join_rates"),
    );
    if (now < keep) await this.ctx.storage.setAlarm(keep);
    else await this.clear();
  }

  /**
   * Close every socket (1001) and delete the storage now: the room is gone (a job's room, when the job's retention
   * deleted the job).
   *
   * @example
   * await env.ROOM.getByName(`job:${id}`).forget();
   */
  async forget(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) this.closeAndLeave(ws, 1001, "the room was deleted", false);
    await this.clear();
  }

  /** Delete the storage and the alarm; the object holds nothing but its empty tables. */
  protected async clear(): Promise<void> {
    await this.ctx.storage.deleteAll();
    await this.ctx.storage.deleteAlarm();
    this.ctx.storage.sql.exec(SCHEMA);
    this.cleared();
  }

  /**
   * Admit the upgrade the Worker forwarded: the ticket user's join limit, the ticket not used before, room for the
   * socket. The refusal, or the admission with the ticket spent (only now that it opens a socket: a ticket refused
   * for a full room may be tried again).
   */
  protected admit(request: Request): Admission | Response {
    const user = request.headers.get(ROOM_USER_HEADER);
    const ticketId = request.headers.get(ROOM_TICKET_ID_HEADER);
    const ticketExp = Number(request.headers.get(ROOM_TICKET_EXP_HEADER));
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !user || !ticketId || !ticketExp) {
      return problem(400, "Not an upgrade.").getResponse();
    }
    const now = Date.now();
    const joined = this.joinLimit(request.headers, user, now);
    if (joined instanceof Response) return joined;
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM used_tickets WHERE exp <= ?", now);
    if (sql.exec("SELECT 1 FROM used_tickets WHERE jti = ?", ticketId).toArray().length > 0) {
      const detail =
        "This ticket has been used: a ticket opens one socket. Ask POST /v1/rooms/{room}/tickets for another.";
      return problem(401, detail, { type: "ticket-used" }).getResponse();
    }
    const refused = this.overCapacity(this.members().size, user);
    if (refused) return refused;
    sql.exec("INSERT INTO used_tickets (jti, exp) VALUES (?, ?)", ticketId, ticketExp);
    const sinceParam = new URL(request.url).searchParams.get("since");
    const undo = () => {
      sql.exec("DELETE FROM used_tickets WHERE jti = ?", ticketId);
      joined();
    };
    return { user, since: sinceParam === null ? undefined : Number(sinceParam), now, undo };
  }

  /**
   * Accept the server end of a new socket for `user` (hibernatable), counted as one of its connections; `withMark`:
   * remember where this tick's presence changes stand (the room then announces to it only those after).
   */
  protected accept(
    user: string,
    now: number,
    withMark: boolean,
  ): { client: WebSocket; server: WebSocket; member: Member } {
    const members = this.members();
    const { 0: client, 1: server } = new WebSocketPair();
    const connection: Connection = { user, id: crypto.randomUUID(), joinedAt: now };
    this.ctx.acceptWebSocket(server, [`user:${user.slice(0, 200)}`]);
    server.serializeAttachment({ [KEY]: connection } satisfies Attachment);
    this.presence.add(user);
    // Its welcome lists who is here now: of this tick's changes it gets only those that come after (`mark`).
    const member: Member = withMark ? { connection, mark: this.presence.mark } : { connection };
    members.set(server, member);
    return { client, server, member };
  }

  /** Remember in the socket's attachment that it had its welcome. */
  protected markReady(ws: WebSocket, member: Member): void {
    member.connection = { ...member.connection, ready: true };
    try {
      ws.serializeAttachment({ [KEY]: member.connection } satisfies Attachment);
    } catch {
      // gone: its close handler notices
    }
  }

  override webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): void {
    const member = this.members().get(ws);
    if (!member) return;
    // Every frame counts, before anything else: a malformed frame or a ping variant wakes the room as a message does.
    // (The exact PING_FRAME never gets here: the runtime answers it without waking the room.)
    member.rate ??= new RateWindow(this.settings.ROOM_RATE_MESSAGES, this.settings.ROOM_RATE_WINDOW_SECONDS * 1000);
    const verdict = member.rate.hit(Date.now());
    if (verdict === "limited") {
      // Read only for its id (one frame a window: the next one over the rate closes the socket), within the size cap.
      const id = frameBytes(raw) <= this.settings.ROOM_MAX_MESSAGE_BYTES ? frameIdOf(raw) : undefined;
      send(ws, {
        type: "error",
        code: "rate-limited",
        message: `Slow down: ROOM_RATE_MESSAGES (${this.settings.ROOM_RATE_MESSAGES}) per ROOM_RATE_WINDOW_SECONDS (${this.settings.ROOM_RATE_WINDOW_SECONDS}); more closes the connection.`,
        ...(id === undefined ? {} : { id }),
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
    if (parsed.frame.type === "ping") {
      send(ws, { type: "pong" });
      return;
    }
    this.received(ws, member, parsed.frame);
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

  protected closeAndLeave(ws: WebSocket, code: number, reason: string, notice = true): void {
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
    this.leave(ws, notice);
  }

  /**
   * A connection ends. Once per connection (close and error can both report the same socket), marked in its
   * attachment so that an object woken from hibernation does not count it again. `notice: false`: a socket whose
   * join was refused after it was accepted (it never joined).
   */
  protected leave(ws: WebSocket, notice = true): void {
    const members = this.members();
    const member = members.get(ws);
    // A socket the object did not hold: one already closing when it woke. Its attachment says if it was a member.
    const connection = member?.connection ?? connectionOf(ws);
    if (!connection || connection.left) return;
    try {
      ws.serializeAttachment({ [KEY]: { ...connection, left: true } } satisfies Attachment);
    } catch {
      // a socket that is gone cannot take an attachment: a woken object skips it by its state anyway
    }
    if (member) {
      members.delete(ws);
      this.presence.remove(connection.user);
    } else this.presence.removeUnknown(connection.user);
    if (members.size === 0) this.idle();
    if (notice) this.departed(connection);
  }

  /**
   * The open sockets, each with its connection: kept in memory while the object is awake, rebuilt from the runtime's
   * sockets the first time after it woke. `getWebSockets()` can return sockets that are closing: those, and those
   * whose departure was noticed, are not members.
   */
  protected members(): Map<WebSocket, Member> {
    if (this.#members) return this.#members;
    this.#members = new Map();
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const connection = connectionOf(ws);
      if (!connection || connection.left) continue;
      this.#members.set(ws, { connection });
      this.presence.add(connection.user);
    }
    this.rebuilt();
    return this.#members;
  }

  /**
   * Count a join of `user` against the limit the Worker passed (GCRA, one row per user who joined within the period:
   * an idle user's row is deleted, a full bucket as if never seen); the 429 when it is over, else the way to give the
   * join back (the join was refused after all, for the service's own reasons). A row counts under one limit only:
   * after API_RATE_LIMIT changes, a user starts on a full bucket of the new one, never waits out the old one's
   * arrival time (its row goes once that time has passed).
   */
  private joinLimit(headers: Headers, user: string, now: number): Response | (() => void) {
    const limits = {
      limit: Number(headers.get(ROOM_JOIN_LIMIT_HEADER)),
      periodMs: Number(headers.get(ROOM_JOIN_PERIOD_HEADER)),
    };
    if (!(limits.limit > 0 && limits.periodMs > 0)) return () => {};
    const sql = this.ctx.storage.sql;
    const row = `${user}\n${limits.limit}/${limits.periodMs}`;
    sql.exec("DELETE FROM join_rates WHERE tat <= ?", now);
    const stored = sql.exec<{ tat: number }>("SELECT tat FROM join_rates WHERE user = ?", row).toArray()[0];
    const d = gcra(stored?.tat ?? 0, now, limits);
    if (!d.allowed) return rateLimited(limits, d, "API_RATE_LIMIT").getResponse();
    sql.exec("INSERT OR REPLACE INTO join_rates (user, tat) VALUES (?, ?)", row, d.tat);
    return () => {
      if (stored) sql.exec("UPDATE join_rates SET tat = ? WHERE user = ?", stored.tat, row);
      else sql.exec("DELETE FROM join_rates WHERE user = ?", row);
    };
  }

  /** The refusal of a socket for `user` when the object, or the user's share of it, is full; else null. */
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
    if (this.presence.connectionsOf(user) >= perUser) {
      const detail = `${user} already holds ROOM_MAX_SOCKETS_PER_USER (${perUser}) sockets in this room: close one first.`;
      return overLimit("ROOM_MAX_SOCKETS_PER_USER", perUser, detail, {
        status: 429,
        type: "too-many-sockets",
        headers: { "retry-after": "5" },
      }).getResponse();
    }
    return null;
  }
}

/** An upgrade sent for another layout than the room's (its shards were set meanwhile): the Worker tries again. */
export const staleTicket = (): Response =>
  problem(409, "The room's shards changed while joining: try again.", { type: "ticket-stale" }).getResponse();

function connectionOf(ws: WebSocket): Connection | undefined {
  const attachment = ws.deserializeAttachment() as Partial<Attachment> | null;
  return attachment?.[KEY];
}

export function send(ws: WebSocket, frame: ServerFrame): void {
  sendText(ws, JSON.stringify(frame));
}

export function sendText(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // closing under us: its close handler notices the departure
  }
}
