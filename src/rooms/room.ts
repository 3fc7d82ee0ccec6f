/**
 * Room: one chat room per object. Unsharded (the default), it holds its members' WebSockets itself with the
 * Hibernation API (socket handling shared with the shards: `room-sockets.ts`), so that an idle room costs nothing;
 * messages are ordered, stored in SQLite (the last ROOM_HISTORY) and broadcast without an `await` in between, so every
 * member gets every message in seq order. Joins and departures are announced at most once per ROOM_PRESENCE_TICK_MS,
 * together, and always before the next message. Decisions live in `room-state.ts`.
 *
 * A room of a kind with hooks (`kinds.ts`: a poll room) runs them here, through `KindRunner` (`kind.ts`): `onJoin`
 * before a socket is accepted (a refusal is the upgrade's answer), `onMessage` for each member's message (what it
 * answers is what the room orders, broadcasts and acks), `onLeave` after a departure; the kind's state is a table of
 * this object's SQLite, so it wakes with the room. Such a room is never sharded.
 *
 * Split over K shards (`setShards`, before it ever had a member or message), it holds no socket: it is the room's
 * sequencer (`room-sequencer.ts`), and RoomShard objects hold the sockets.
 *
 * Reached by the Worker only: `fetch` (the WebSocket upgrade of an unsharded room, with the user, id and expiry the
 * Worker took from a verified ticket, and the join limit of its settings) and RPC `publish`, `info`, `layout`,
 * `setShards`, `forget` (a job's room, with the job); the shards call `apply` and `history`. Each ticket opens one
 * socket: its id is remembered in SQLite until the ticket expires. Idle and empty, it deletes its storage by alarm
 * after ROOM_RETENTION_HOURS (`room-sockets.ts`), its layout included: it is a new room when used again.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { log } from "../http/log";
import { problem } from "../http/problem";
import { hasHooks, KindRunner, type StateRows } from "./kind";
import { kindOf, roomOf } from "./kinds";
import { type ClientFrame, type RoomMessage, SERVER_SENDER, type ServerFrame, type WelcomeFrame } from "./protocol";
import { Sequencer, type SequencerCounts } from "./room-sequencer";
import { type Connection, type Member, RoomSockets, send, sendText, staleTicket } from "./room-sockets";
import { type HistoryStore, Presence, RoomLog, Ticker } from "./room-state";
import { type OpResult, type ShardOp, shardName } from "./room-stream";

export interface RoomInfo {
  members: string[];
  count: number;
  connections: number;
  lastSeq: number;
  /** Sharded rooms only: K, the open sockets of each shard, and the calls between sequencer and shards. */
  shards?: number;
  sockets?: number[];
  calls?: SequencerCounts;
}

/** How a room is laid out: its shards, and whether that is fixed (it has had a member or a message). */
export interface RoomLayout {
  shards: number;
  fixed: boolean;
}

type MessageRow = { seq: number; id: string; sender: string; server: number; data: string; ts: number };

const messageOf = (r: MessageRow): RoomMessage => ({
  type: "message",
  seq: r.seq,
  id: r.id,
  from: r.sender,
  server: r.server === 1,
  data: JSON.parse(r.data) as unknown,
  ts: r.ts,
});

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
      .exec<MessageRow>(
        "SELECT seq, id, sender, server, data, ts FROM messages WHERE seq > ? ORDER BY seq DESC LIMIT ?",
        since,
        limit,
      )
      .toArray();
    return rows.reverse().map(messageOf);
  }

  /** The kept messages with `after` < seq ≤ `upTo`, oldest first. */
  between(after: number, upTo: number): RoomMessage[] {
    return this.sql
      .exec<MessageRow>(
        "SELECT seq, id, sender, server, data, ts FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq",
        after,
        upTo,
      )
      .toArray()
      .map(messageOf);
  }
}

/**
 * A room kind's state: a table of JSON values by key, its hooks' writes in one transaction each.
 *
 * @example
 * new KindRunner(poll, "poll:lunch", kindRows(ctx.storage), settings.ROOM_KIND_STATE_BYTES, () => members);
 */
export function kindRows(storage: DurableObjectStorage): StateRows {
  const sql = storage.sql;
  sql.exec("CREATE TABLE IF NOT EXISTS kind_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  return {
    get: (key) => sql.exec<{ value: string }>("SELECT value FROM kind_state WHERE key = ?", key).toArray()[0]?.value,
    put: (key, value) => void sql.exec("INSERT OR REPLACE INTO kind_state (key, value) VALUES (?, ?)", key, value),
    delete: (key) => void sql.exec("DELETE FROM kind_state WHERE key = ?", key),
    keys: (prefix) =>
      sql
        .exec<{ key: string }>("SELECT key FROM kind_state WHERE instr(key, ?) = 1 ORDER BY key", prefix)
        .toArray()
        .map((r) => r.key),
    bytes: () =>
      sql
        .exec<{ n: number }>(
          "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0) AS n FROM kind_state",
        )
        .one().n,
    atomically: (fn) => storage.transactionSync(fn),
  };
}

/** The Room's own tables (besides those of `room-sockets.ts`). */
function createTables(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS messages (
      seq INTEGER PRIMARY KEY, id TEXT NOT NULL, sender TEXT NOT NULL, data TEXT NOT NULL, ts INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS shard_members (
      shard INTEGER NOT NULL, user TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (shard, user)
    );
  `);
  // Rooms created before messages carried who sent them: their kept messages read as members' (server = 0).
  const columns = sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('messages')").toArray();
  if (!columns.some((c) => c.name === "server")) {
    sql.exec("ALTER TABLE messages ADD COLUMN server INTEGER NOT NULL DEFAULT 0");
  }
}

export class Room extends RoomSockets {
  private log: RoomLog;
  readonly #ticker: Ticker;
  #layout: RoomLayout;
  #sequencer: Sequencer | undefined;
  readonly #history: SqlHistory;
  /** The room's kind, when it has hooks (`kinds.ts`; a chat room has none). */
  #kind: KindRunner | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    createTables(ctx.storage.sql);
    const history = new SqlHistory(ctx.storage.sql);
    this.#history = history;
    this.log = new RoomLog(history, this.settings.ROOM_HISTORY);
    // The layout: meta rows 'shards' (absent: 1) and 'fixed' (absent: not yet).
    const meta = new Map(
      ctx.storage.sql
        .exec<{ key: string; value: number }>("SELECT key, value FROM meta WHERE key IN ('shards', 'fixed')")
        .toArray()
        .map((r) => [r.key, r.value]),
    );
    this.#layout = { shards: meta.get("shards") ?? 1, fixed: meta.has("fixed") };
    this.#ticker = new Ticker(
      this.settings.ROOM_PRESENCE_TICK_MS,
      () => this.presence.pending,
      () => (this.#sequencer ? this.#sequencer.announce() : this.announce()),
    );
    this.#sequencer = this.#sequencerFor(history);
    this.#kind = this.#kindFor();
  }

  /** The WebSocket upgrade of an unsharded room, forwarded by the Worker after it checked the ticket and the Origin. */
  override async fetch(request: Request): Promise<Response> {
    if (this.#sequencer) return staleTicket();
    const admitted = this.admit(request);
    if (admitted instanceof Response) return admitted;
    const { user, since, now } = admitted;
    const joined = this.#kind?.join(user);
    if (joined && "refused" in joined) {
      const { status, type, detail } = joined.refused;
      // Refused by the kind, the ticket is spent; by a failure of the service, it is given back.
      if (status !== 403) admitted.undo();
      return problem(status as ContentfulStatusCode, detail, { type }).getResponse();
    }
    const { client, server, member } = this.accept(user, now, true);
    this.#fix();
    this.#ticker.soon();
    const welcome: WelcomeFrame = {
      type: "welcome",
      self: { user, id: member.connection.id },
      members: this.presence.members(),
      count: this.presence.count,
      lastSeq: this.log.lastSeq,
      history: this.log.history(since),
      ...(joined?.reply === undefined ? {} : { reply: joined.reply }),
    };
    server.send(JSON.stringify(welcome));
    for (const data of joined?.publish ?? []) this.#order(SERVER_SENDER, true, data, crypto.randomUUID());
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
    const m = { from, server: true, data, id: crypto.randomUUID() };
    // Stored for nobody (yet): the room's retention counts from now.
    if (!this.occupied()) this.idle();
    if (this.#sequencer) return { seq: this.#sequencer.publish(m) };
    const message = this.log.append({ ...m, ts: Date.now() });
    this.broadcast(message);
    return { seq: message.seq };
  }

  /** Who is present and the last seq (and, sharded, the shards' sockets). */
  async info(): Promise<RoomInfo> {
    if (!this.#sequencer) {
      // The sockets first: after the room woke, they rebuild its presence.
      const connections = this.members().size;
      const present = this.presence.members();
      return { members: present, count: present.length, connections, lastSeq: this.log.lastSeq };
    }
    const present = this.presence.members();
    const sockets = this.#sequencer.sockets(this.#layout.shards);
    return {
      members: present,
      count: present.length,
      connections: sockets.reduce((a, b) => a + b, 0),
      lastSeq: this.log.lastSeq,
      shards: this.#layout.shards,
      sockets,
      calls: { ...this.#sequencer.counts },
    };
  }

  /** The room's shards, and whether they are fixed (the ticket route reads it). */
  async layout(): Promise<RoomLayout> {
    return { shards: this.#layout.shards, fixed: this.#fixed() };
  }

  /**
   * Split the room over `shards` RoomShard objects (1: unsharded), before it ever had a member or a message; the
   * same value again is a no-op. The layout in force when it is refused.
   *
   * @example
   * await env.ROOM.getByName("live").setShards(4); // { ok: true, shards: 4 }
   */
  async setShards(shards: number): Promise<{ ok: boolean; shards: number; kind?: string }> {
    if (shards === this.#layout.shards) return { ok: true, shards };
    // A kind's hooks run in one object, the one place of truth of its state: a room of a kind is never sharded.
    if (this.#kind) return { ok: false, shards: this.#layout.shards, kind: this.#kind.kind.name };
    if (this.#fixed()) return { ok: false, shards: this.#layout.shards };
    this.idle();
    this.#meta("shards", shards);
    this.#layout = { shards, fixed: false };
    this.#sequencer = this.#sequencerFor(this.#history);
    return { ok: true, shards };
  }

  /** A shard's ops, in the order its sockets did them (sharded rooms only). */
  async apply(shard: number, ops: ShardOp[]): Promise<OpResult[]> {
    const { shards } = this.#layout;
    if (!this.#sequencer) return ops.map(() => ({ ok: false, reason: "stale-layout", shards }));
    if (ops.some((op) => op.op === "join" && op.shards === shards)) this.#fix();
    const present = this.presence.count;
    const results = this.#sequencer.apply(shard, ops);
    // The last member left (on whichever shard): the room's retention counts from now.
    if (present > 0 && this.presence.count === 0) this.idle();
    return results;
  }

  /** Forget the room now: its shards' sockets and storage too (the job whose room it was is gone). */
  override async forget(): Promise<void> {
    const room = this.ctx.id.name;
    if (this.#sequencer && room !== undefined) {
      const { shards } = this.#layout;
      await Promise.all(
        Array.from({ length: shards }, (_, i) => this.env.ROOM_SHARD.getByName(shardName(room, i)).forget()),
      );
    }
    await super.forget();
  }

  /** The kept messages after `after` up to `upTo`, as a shard fills a gap in its stream. */
  async history(after: number, upTo: number): Promise<{ seq: number; text: string }[]> {
    return this.#sequencer?.history(after, upTo) ?? [];
  }

  protected override received(ws: WebSocket, member: Member, frame: Extract<ClientFrame, { type: "message" }>): void {
    const id = frame.id ?? crypto.randomUUID();
    const user = member.connection.user;
    const verdict = this.#kind?.message(user, frame.data) ?? { broadcast: { data: frame.data }, publish: [] };
    if ("error" in verdict) {
      send(ws, { type: "error", ...verdict.error, id });
      return;
    }
    let seq = verdict.broadcast ? this.#order(user, false, verdict.broadcast.data, id) : 0;
    for (const data of verdict.publish) {
      const published = this.#order(SERVER_SENDER, true, data, crypto.randomUUID());
      seq ||= published;
    }
    send(ws, verdict.reply === undefined ? { type: "ack", id, seq } : { type: "ack", id, seq, reply: verdict.reply });
  }

  /** Its user leaves with its last connection, announced with the next presence frame. */
  protected override departed(connection: Connection): void {
    this.#kind?.leave(connection.user);
    this.#ticker.soon();
  }

  protected override occupied(): boolean {
    return this.#sequencer ? this.presence.count > 0 : this.members().size > 0;
  }

  protected override cleared(): void {
    createTables(this.ctx.storage.sql);
    this.log = new RoomLog(this.#history, this.settings.ROOM_HISTORY);
    this.#layout = { shards: 1, fixed: false };
    this.#sequencer = undefined;
    this.presence = new Presence();
    // The kind's state went with the rest: its table again, empty.
    this.#kind = this.#kindFor();
  }

  protected override rebuilt(): void {
    // Members who were here before the room slept were told about each other then. (A sequencer holds no socket: its
    // presence is the shards'.)
    if (!this.#sequencer) this.presence.endTick();
  }

  /** The sequencer of a sharded room (none for an unsharded one). */
  #sequencerFor(history: SqlHistory): Sequencer | undefined {
    const room = this.ctx.id.name;
    if (this.#layout.shards === 1 || room === undefined) return undefined;
    return new Sequencer(
      this.#layout.shards,
      this.ctx.storage.sql,
      this.log,
      this.presence,
      this.#ticker,
      (i) => this.env.ROOM_SHARD.getByName(shardName(room, i)),
      (after, upTo) => history.between(after, upTo),
    );
  }

  /** The runner of the room's kind, if its kind has hooks (none in a room sharded before its name had a kind). */
  #kindFor(): KindRunner | undefined {
    const name = this.ctx.id.name;
    if (name === undefined) return undefined;
    const kind = kindOf(name);
    if (!hasHooks(kind)) return undefined;
    return new KindRunner(
      kind,
      roomOf(name),
      kindRows(this.ctx.storage),
      this.settings.ROOM_KIND_STATE_BYTES,
      () => this.presence.members(),
      (hook, error) =>
        log("error", "room kind hook failed", { room: name, kind: kind.name, hook, error: String(error) }),
    );
  }

  /** Order a message, store it and send it to every member; its seq. */
  #order(from: string, server: boolean, data: unknown, id: string): number {
    const message = this.log.append({ from, server, data, id, ts: Date.now() });
    this.broadcast(message);
    return message.seq;
  }

  /** Whether the layout is fixed: the room has had a member or a message. */
  #fixed(): boolean {
    return this.#layout.fixed || this.log.lastSeq > 0 || (!this.#sequencer && this.members().size > 0);
  }

  #fix(): void {
    if (this.#layout.fixed) return;
    this.#layout.fixed = true;
    this.#meta("fixed", 1);
  }

  #meta(key: string, value: number): void {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  /**
   * Send this tick's presence frame: one text for every member who was here before the tick, and to each member who
   * joined during it the changes since its welcome (nothing if there are none).
   */
  private announce(): void {
    const shared = this.presence.frameSince(0);
    const text = shared && JSON.stringify(shared);
    for (const [ws, member] of this.members()) {
      if (member.mark === undefined) {
        if (text) sendText(ws, text);
        continue;
      }
      const frame = this.presence.frameSince(member.mark);
      member.mark = undefined;
      if (frame) sendText(ws, JSON.stringify(frame));
    }
    this.presence.endTick();
  }

  /** Send `frame` to every member, serialised once; presence waiting for its tick goes out first. */
  private broadcast(frame: ServerFrame): void {
    this.#ticker.now();
    const text = JSON.stringify(frame);
    for (const ws of this.members().keys()) sendText(ws, text);
  }
}
