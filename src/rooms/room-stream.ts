/**
 * A sharded room's internal protocol and the shard's ordering decisions. A sharded room is one sequencer (the Room
 * object named after the room: seq, history, room-wide presence) and K RoomShard objects (`room#i`) that hold the
 * sockets. A shard sends the sequencer `ShardOp`s (joins, members' messages, departures); the sequencer sends each
 * shard a stream of `Batch`es: messages (serialised once), presence frames and welcomes, in the room's order.
 * `ShardStream` puts what arrives back in seq order, once, and says which gap to fill from the sequencer's history.
 * No platform imports.
 */

/** What a shard asks of the sequencer, in the order its sockets did it. */
export type ShardOp =
  /** `shards`: the K the ticket was signed for. */
  | { op: "join"; conn: string; user: string; shards: number; since?: number }
  | { op: "message"; user: string; id: string; data: unknown }
  | { op: "leave"; conn: string; user: string }
  /** After waking: the users this shard really holds (connections each), to correct what the sequencer counts. */
  | { op: "sync"; users: [string, number][] };

/** The answer to one op: a message's seq; a join refused when the ticket's layout is not the room's any more. */
export type OpResult = { ok: true; seq?: number } | { ok: false; reason: "stale-layout"; shards: number };

/** One entry of the stream, as its sockets get it (texts serialised once by the sequencer). */
export type StreamItem =
  | { seq: number; text: string }
  /** A presence frame: `text` for every ready socket, except those listed in `personal` (by connection id). */
  | { presence: string | null; personal: Record<string, string | null> }
  | { welcome: string; text: string };

/**
 * A turn of the stream for one shard: the items after seq `after`. `epoch` (one per sequencer instance) and `n`
 * (per shard, in that epoch) name the batch, so a batch delivered twice (a retry after a lost answer) plays once.
 */
export interface Batch {
  epoch: string;
  n: number;
  after: number;
  items: StreamItem[];
}

/**
 * Most items in one call between a shard and its sequencer, either way: with ROOM_MAX_MESSAGE_BYTES at most 1 MiB and a
 * welcome's history at most ROOM_HISTORY messages, keeps a call well within Durable Object RPC's 32 MiB for the
 * default settings (16 KiB messages: 4 MiB).
 */
export const PIPE_MAX_ITEMS = 256;

/** The object name of shard `i` of `room` ("#" cannot occur in a room name). */
export const shardName = (room: string, i: number): string => `${room}#${i}`;

/** The room and index a shard's object name stands for. */
export function shardOfName(name: string): { room: string; shard: number } {
  const at = name.lastIndexOf("#");
  return { room: name.slice(0, at), shard: Number(name.slice(at + 1)) };
}

/**
 * The shard of `user` in a room of `shards` shards: FNV-1a of its UTF-8 bytes, so all of a user's tabs share one.
 *
 * @example
 * shardOf("ada", 4); // the same number in 0..3 on every call
 */
export function shardOf(user: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(user)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/** What to play now, in order, and the gap (seq after `after`, up to `upTo`) to fetch from history first, if any. */
export interface StreamStep {
  play: StreamItem[];
  fill?: { after: number; upTo: number };
}

const EPOCHS_KEPT = 4;

/**
 * A shard's view of the room's stream: the last seq it delivered (`cursor`), the batches that arrived ahead of a gap,
 * and the batches already played. A batch that starts after the cursor waits while the gap is filled from history;
 * a message at or below the cursor is never played again.
 *
 * @example
 * const stream = new ShardStream(0);
 * stream.receive({ epoch: "e", n: 2, after: 1, items: [{ seq: 2, text: "…" }] }, true); // { play: [], fill: { after: 0, upTo: 1 } }
 * stream.filled([{ seq: 1, text: "…" }], 1); // { play: [seq 1, seq 2] }
 */
export class ShardStream {
  #cursor: number | undefined;
  #ahead: Batch[] = [];
  #filling = false;
  /** The highest batch number played, per epoch (the latest few epochs). */
  readonly #played = new Map<string, number>();

  constructor(cursor?: number) {
    this.#cursor = cursor;
  }

  /** The last seq played (undefined before the first batch of a shard that never played one). */
  get cursor(): number | undefined {
    return this.#cursor;
  }

  /**
   * A batch arrived. `live`: some socket already reads the stream (without one, nothing before this batch matters:
   * the stream starts here).
   */
  receive(batch: Batch, live: boolean): StreamStep {
    const seen = this.#played.get(batch.epoch);
    if (seen !== undefined && batch.n <= seen) return { play: [] };
    if (!live || this.#cursor === undefined) {
      this.#ahead = [];
      this.#filling = false;
      this.#cursor = batch.after;
    }
    if (batch.after > (this.#cursor as number)) {
      this.#ahead.push(batch);
      this.#ahead.sort((a, b) => a.after - b.after);
      if (this.#filling) return { play: [] };
      this.#filling = true;
      return { play: [], fill: { after: this.#cursor as number, upTo: (this.#ahead[0] as Batch).after } };
    }
    const play = this.#take(batch);
    return this.#drain(play);
  }

  /** The gap's messages arrived (those history still kept: with fewer, the stream skips ahead to `upTo`). */
  filled(messages: { seq: number; text: string }[], upTo: number): StreamStep {
    this.#filling = false;
    const play: StreamItem[] = [];
    for (const m of messages) {
      if (m.seq <= (this.#cursor ?? 0) || m.seq > upTo) continue;
      play.push(m);
      this.#cursor = m.seq;
    }
    this.#cursor = Math.max(this.#cursor ?? 0, upTo);
    return this.#drain(play);
  }

  /** The gap could not be filled (the sequencer did not answer): ask again when the next batch arrives. */
  unfilled(): void {
    this.#filling = false;
  }

  /** Play the batches that waited and now follow on; the next gap to fill if one still waits. */
  #drain(play: StreamItem[]): StreamStep {
    while (this.#ahead.length > 0 && (this.#ahead[0] as Batch).after <= (this.#cursor as number)) {
      play.push(...this.#take(this.#ahead.shift() as Batch));
    }
    const next = this.#ahead[0];
    if (!next || this.#filling) return { play };
    this.#filling = true;
    return { play, fill: { after: this.#cursor as number, upTo: next.after } };
  }

  /** The items of `batch` not yet played (messages above the cursor), marking it played. */
  #take(batch: Batch): StreamItem[] {
    // The same batch twice while it waited ahead (a retry): it plays once.
    if (batch.n <= (this.#played.get(batch.epoch) ?? 0)) return [];
    this.#played.set(batch.epoch, Math.max(batch.n, this.#played.get(batch.epoch) ?? 0));
    if (this.#played.size > EPOCHS_KEPT) this.#played.delete(this.#played.keys().next().value as string);
    const play: StreamItem[] = [];
    for (const item of batch.items) {
      if ("seq" in item) {
        if (item.seq <= (this.#cursor as number)) continue;
        this.#cursor = item.seq;
      }
      play.push(item);
    }
    return play;
  }
}
