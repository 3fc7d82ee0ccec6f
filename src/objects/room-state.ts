/**
 * A room's decisions, apart from the Durable Object's platform callbacks so that they can be tested without a
 * socket: ordering and history (`RoomLog` over a `HistoryStore`), presence (`members`, `presenceAfterJoin`,
 * `presenceAfterLeave`) and per-connection rate accounting (`RateWindow`). No platform imports.
 */
import type { PresenceFrame, RoomMessage } from "../protocol/room-protocol";

/** Where a room keeps its ordered messages (SQLite in the Room object, an array in tests). */
export interface HistoryStore {
  /** The highest seq ever assigned (0 for a new room), even if that message was trimmed away. */
  lastSeq(): number;
  /** Store `message` as the new last one and keep only the newest `keep` messages. */
  append(message: RoomMessage, keep: number): void;
  /** Messages with seq > `since`, oldest first, at most `limit` (the newest ones if there are more). */
  after(since: number, limit: number): RoomMessage[];
}

/**
 * Orders a room's messages: each appended message gets the next seq and is stored before anyone sees it.
 *
 * @example
 * const log = new RoomLog(store, 100);
 * const m = log.append({ from: "ada", server: false, data: "hi", id: "m1", ts: Date.now() }); // m.seq === log.lastSeq
 * log.history(m.seq - 1); // [m]
 */
export class RoomLog {
  #lastSeq: number;

  constructor(
    private readonly store: HistoryStore,
    private readonly keep: number,
  ) {
    this.#lastSeq = store.lastSeq();
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  append({ from, server, data, id, ts }: Omit<RoomMessage, "type" | "seq">): RoomMessage {
    const message: RoomMessage = { type: "message", seq: this.#lastSeq + 1, id, from, server, data, ts };
    this.store.append(message, this.keep);
    this.#lastSeq = message.seq;
    return message;
  }

  /** The kept messages after `since` (all kept messages without it), oldest first. */
  history(since?: number): RoomMessage[] {
    if (this.keep === 0) return [];
    return this.store.after(since ?? 0, this.keep);
  }
}

/** Distinct users, sorted. */
export function members(users: Iterable<string>): string[] {
  return [...new Set(users)].sort();
}

/** The `joined` frame to announce when `user` connects, or nothing if the user was already present elsewhere. */
export function presenceAfterJoin(usersBefore: Iterable<string>, user: string): PresenceFrame | undefined {
  const before = members(usersBefore);
  if (before.includes(user)) return undefined;
  const after = members([...before, user]);
  return { type: "presence", event: "joined", user, count: after.length, members: after };
}

/** The `left` frame to announce when a connection of `user` ends, or nothing if the user is still connected. */
export function presenceAfterLeave(usersRemaining: Iterable<string>, user: string): PresenceFrame | undefined {
  const after = members(usersRemaining);
  if (after.includes(user)) return undefined;
  return { type: "presence", event: "left", user, count: after.length, members: after };
}

/** What a connection's next message may do: go through, be refused with a warning, or close the connection. */
export type RateVerdict = "ok" | "limited" | "close";

/**
 * Fixed-window rate accounting for one connection: `limit` messages per `windowMs`. The first message over the
 * limit in a window is refused with a warning (`limited`); any further one in the same window means `close`.
 *
 * @example
 * const rate = new RateWindow(20, 10_000);
 * rate.hit(Date.now()); // "ok"
 */
export class RateWindow {
  #windowStart = Number.NEGATIVE_INFINITY;
  #count = 0;
  #warned = false;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  hit(now: number): RateVerdict {
    if (now - this.#windowStart >= this.windowMs) {
      this.#windowStart = now;
      this.#count = 0;
      this.#warned = false;
    }
    this.#count++;
    if (this.#count <= this.limit) return "ok";
    if (!this.#warned) {
      this.#warned = true;
      return "limited";
    }
    return "close";
  }
}
