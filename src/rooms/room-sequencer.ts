/**
 * The sequencer of a sharded room: what the Room object does when its room is split over K RoomShard objects. It
 * holds no socket. It takes each shard's ops in order (joins, members' messages, departures), gives each message
 * its seq and stores it once (the room's RoomLog), keeps who is present on which shard (SQLite, so that it survives
 * eviction) and aggregates presence room-wide, and feeds every shard that holds members one ordered stream: per
 * shard at most one `deliver` call in flight, everything of the turns meanwhile in the next one (a retry re-sends the
 * same batch; the shard plays a batch once and fills a gap from `history`).
 */
import type { RoomMessage, WelcomeFrame } from "./protocol";
import { Pipe } from "./room-pipe";
import type { Presence, RoomLog, Ticker } from "./room-state";
import { type Batch, type OpResult, PIPE_MAX_ITEMS, type ShardOp, type StreamItem } from "./room-stream";

/** The shard's end of the stream, as the sequencer calls it (RoomShard's RPC). */
export interface ShardEnd {
  deliver(batch: Batch): Promise<void>;
}

interface Feed {
  pipe: Pipe<{ after: number; item: StreamItem }, undefined>;
  /** The seq the stream queued for this shard has reached. */
  pos: number;
}

/** Delivery attempts of one batch before it is dropped (the shard then fills the messages from history). */
const ATTEMPTS = 3;

export interface SequencerCounts {
  /** Calls from shards (each carrying the ops of its turns) since the sequencer woke. */
  fromShards: number;
  /** `deliver` calls to shards since the sequencer woke. */
  toShards: number;
}

export class Sequencer {
  /** Connections per user on each shard, as the shards reported them. */
  readonly #shards = new Map<number, Map<string, number>>();
  readonly #feeds = new Map<number, Feed>();
  /** Connections that joined during this presence tick: their welcome already had its changes up to `mark`. */
  readonly #marks = new Map<string, { shard: number; mark: number }>();
  readonly #epoch = crypto.randomUUID();
  #batches = 0;
  readonly counts: SequencerCounts = { fromShards: 0, toShards: 0 };

  constructor(
    /** K: a join whose ticket was signed for another K is refused. */
    private readonly shards: number,
    private readonly sql: SqlStorage,
    private readonly log: RoomLog,
    private readonly presence: Presence,
    private readonly ticker: Ticker,
    private readonly shard: (i: number) => ShardEnd,
    private readonly kept: (after: number, upTo: number) => RoomMessage[],
  ) {
    for (const row of sql.exec<{ shard: number; user: string; n: number }>(
      "SELECT shard, user, n FROM shard_members",
    )) {
      this.#usersOf(row.shard).set(row.user, row.n);
      for (let k = 0; k < row.n; k++) presence.add(row.user);
    }
    // Members present before the sequencer slept were told about each other then.
    presence.endTick();
  }

  /** Apply one shard's ops, in order; one answer each. */
  apply(shard: number, ops: ShardOp[]): OpResult[] {
    this.counts.fromShards++;
    return ops.map((op) => {
      switch (op.op) {
        case "join":
          if (op.shards !== this.shards) return { ok: false, reason: "stale-layout", shards: this.shards };
          return this.#join(shard, op.conn, op.user, op.since);
        case "message":
          return { ok: true, seq: this.publish({ from: op.user, server: false, data: op.data, id: op.id }) };
        case "leave":
          if (this.#count(shard, op.user, -1)) {
            this.#marks.delete(op.conn);
            this.ticker.soon();
          }
          return { ok: true };
        default:
          this.#sync(shard, new Map(op.users));
          return { ok: true };
      }
    });
  }

  /** Order a message, store it once and queue it to every shard that holds members; its seq. */
  publish(m: Omit<RoomMessage, "type" | "seq" | "ts">): number {
    // Presence waiting for its tick goes out first, so a member's join arrives before what it sends.
    this.ticker.now();
    const message = this.log.append({ ...m, ts: Date.now() });
    const text = JSON.stringify(message);
    for (const i of this.#shards.keys()) this.#queue(i, { seq: message.seq, text });
    return message.seq;
  }

  /** The presence frame of this tick: the same text to every member, and to each that joined during it its own. */
  announce(): void {
    const shared = this.presence.frameSince(0);
    const text = shared ? JSON.stringify(shared) : null;
    const personal = new Map<number, Record<string, string | null>>();
    for (const [conn, { shard, mark }] of this.#marks) {
      const frame = this.presence.frameSince(mark);
      const own = personal.get(shard) ?? {};
      own[conn] = frame ? JSON.stringify(frame) : null;
      personal.set(shard, own);
    }
    this.#marks.clear();
    this.presence.endTick();
    for (const i of this.#shards.keys()) {
      const own = personal.get(i) ?? {};
      if (text !== null || Object.keys(own).length > 0) this.#queue(i, { presence: text, personal: own });
    }
  }

  /** The kept messages after `after` up to `upTo`, serialised as the stream carries them (for a shard's gap). */
  history(after: number, upTo: number): { seq: number; text: string }[] {
    return this.kept(after, upTo).map((m) => ({ seq: m.seq, text: JSON.stringify(m) }));
  }

  /** Open sockets per shard (0..shards-1), as reported. */
  sockets(shards: number): number[] {
    return Array.from({ length: shards }, (_, i) => {
      let n = 0;
      for (const c of this.#shards.get(i)?.values() ?? []) n += c;
      return n;
    });
  }

  #join(shard: number, conn: string, user: string, since: number | undefined): OpResult {
    this.#count(shard, user, +1);
    this.#marks.set(conn, { shard, mark: this.presence.mark });
    this.ticker.soon();
    const welcome: WelcomeFrame = {
      type: "welcome",
      self: { user, id: conn },
      members: this.presence.members(),
      count: this.presence.count,
      lastSeq: this.log.lastSeq,
      history: this.log.history(since),
    };
    this.#queue(shard, { welcome: conn, text: JSON.stringify(welcome) });
    return { ok: true };
  }

  /** Replace what `shard` holds with what it says it holds (after it woke), announcing the difference. */
  #sync(shard: number, users: Map<string, number>): void {
    const known = new Map(this.#usersOf(shard));
    for (const user of new Set([...known.keys(), ...users.keys()])) {
      let diff = (users.get(user) ?? 0) - (known.get(user) ?? 0);
      for (; diff > 0; diff--) this.#count(shard, user, +1);
      for (; diff < 0; diff++) this.#count(shard, user, -1);
    }
    this.ticker.soon();
  }

  /** One more (+1) or one fewer (-1) connection of `user` on `shard`, stored; false if there was none to remove. */
  #count(shard: number, user: string, by: 1 | -1): boolean {
    const users = this.#usersOf(shard);
    const n = (users.get(user) ?? 0) + by;
    if (n < 0) return false;
    if (n === 0) {
      users.delete(user);
      this.sql.exec("DELETE FROM shard_members WHERE shard = ? AND user = ?", shard, user);
    } else {
      users.set(user, n);
      this.sql.exec(
        "INSERT INTO shard_members (shard, user, n) VALUES (?, ?, ?) ON CONFLICT (shard, user) DO UPDATE SET n = excluded.n",
        shard,
        user,
        n,
      );
    }
    if (by > 0) this.presence.add(user);
    else this.presence.remove(user);
    if (users.size === 0) {
      // Nobody to feed: a member who joins later starts a new stream from there.
      this.#shards.delete(shard);
      this.#feeds.delete(shard);
    }
    return true;
  }

  #usersOf(shard: number): Map<string, number> {
    let users = this.#shards.get(shard);
    if (!users) {
      users = new Map();
      this.#shards.set(shard, users);
    }
    return users;
  }

  #queue(shard: number, item: StreamItem): void {
    let feed = this.#feeds.get(shard);
    if (!feed) {
      feed = { pos: this.log.lastSeq - ("seq" in item ? 1 : 0), pipe: this.#pipeTo(shard) };
      this.#feeds.set(shard, feed);
    }
    const after = "seq" in item ? item.seq - 1 : feed.pos;
    if ("seq" in item) feed.pos = item.seq;
    // A batch that failed every attempt is dropped: the shard fills its messages from history.
    feed.pipe.call({ after, item }).catch(() => {});
  }

  #pipeTo(shard: number): Feed["pipe"] {
    const end = this.shard(shard);
    return new Pipe(async (entries) => {
      const batch: Batch = {
        epoch: this.#epoch,
        n: ++this.#batches,
        after: (entries[0] as { after: number }).after,
        items: entries.map((e) => e.item),
      };
      for (let attempt = 1; ; attempt++) {
        try {
          this.counts.toShards++;
          await end.deliver(batch);
          return entries.map(() => undefined);
        } catch (error) {
          if (attempt >= ATTEMPTS) throw error;
          await new Promise((r) => setTimeout(r, 10 * 4 ** attempt));
        }
      }
    }, PIPE_MAX_ITEMS);
  }
}
