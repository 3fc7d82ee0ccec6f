/**
 * A room's decisions, apart from the Durable Object's platform callbacks so that they can be tested without a
 * socket: ordering and history (`RoomLog` over a `HistoryStore`), presence (`Presence`: members and the changes a
 * tick announces) and per-connection rate accounting (`RateWindow`). No platform imports.
 */
import type { PresenceFrame, RoomMessage } from "./protocol";

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

/**
 * Who is in a room, by user (a user with several connections is one member), and who joined or left since the last
 * presence frame: the changes of one tick, announced together.
 *
 * Members who were there before the tick get the net change of the whole tick; a member who joined during it was
 * welcomed with the members of that moment (`mark`), so it gets the net change since then. A user who joins and
 * leaves within one tick is never announced.
 *
 * @example
 * const presence = new Presence();
 * presence.add("ada"); presence.add("bob");
 * const mark = presence.mark; // bob's welcome lists ada and bob
 * presence.remove("ada");
 * presence.frameSince(0); // { type: "presence", joined: ["bob"], left: ["ada"], count: 1 }
 * presence.frameSince(mark); // { type: "presence", joined: [], left: ["ada"], count: 1 }
 * presence.endTick();
 */
export class Presence {
  /** Open connections by user. */
  readonly #connections = new Map<string, number>();
  /** Users who became present (true) or absent (false) this tick, in order. */
  #changes: { user: string; joined: boolean }[] = [];

  /** Distinct users present. */
  get count(): number {
    return this.#connections.size;
  }

  /** Where this tick's changes stand now: what a member welcomed now has already seen. */
  get mark(): number {
    return this.#changes.length;
  }

  /** Whether anything changed this tick. */
  get pending(): boolean {
    return this.#changes.length > 0;
  }

  /** The connections `user` has open. */
  connectionsOf(user: string): number {
    return this.#connections.get(user) ?? 0;
  }

  /** Distinct users present, sorted. */
  members(): string[] {
    return [...this.#connections.keys()].sort();
  }

  /** A connection of `user` opened. */
  add(user: string): void {
    const n = this.connectionsOf(user);
    this.#connections.set(user, n + 1);
    if (n === 0) this.#changes.push({ user, joined: true });
  }

  /** A connection of `user` closed; with none left, the user left. */
  remove(user: string): void {
    const n = this.connectionsOf(user);
    if (n > 1) this.#connections.set(user, n - 1);
    else {
      this.#connections.delete(user);
      this.#changes.push({ user, joined: false });
    }
  }

  /**
   * A connection this view did not hold closed (one that was already closing when the room woke from hibernation):
   * if `user` has no other, members saw it join and must see it leave.
   */
  removeUnknown(user: string): void {
    if (this.connectionsOf(user) === 0) this.#changes.push({ user, joined: false });
  }

  /** The frame for a member that has seen the changes up to `mark` (0: none of this tick), or nothing new for it. */
  frameSince(mark: number): PresenceFrame | undefined {
    // Per user, its first and last change after `mark`: a join then a leave (or a leave then a join) is no change.
    const net = new Map<string, { first: boolean; last: boolean }>();
    for (let i = mark; i < this.#changes.length; i++) {
      const { user, joined } = this.#changes[i] as { user: string; joined: boolean };
      const seen = net.get(user);
      if (seen) seen.last = joined;
      else net.set(user, { first: joined, last: joined });
    }
    const joined: string[] = [];
    const left: string[] = [];
    for (const [user, { first, last }] of net) {
      if (first === last) (last ? joined : left).push(user);
    }
    if (joined.length === 0 && left.length === 0) return undefined;
    return { type: "presence", joined: joined.sort(), left: left.sort(), count: this.count };
  }

  /** The tick's frames are out: start the next. */
  endTick(): void {
    this.#changes = [];
  }
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

/**
 * Presence at most once per `tickMs`: `soon()` announces at once after a quiet tick, else when the tick that started
 * with the last announcement ends (together with whatever else changed meanwhile); `now()` announces what waits at
 * once (before a message, so that a join always arrives before what the member sends).
 *
 * @example
 * const ticker = new Ticker(50, () => presence.pending, () => announce());
 * presence.add("ada"); ticker.soon();
 */
export class Ticker {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #announcedAt = 0;

  constructor(
    private readonly tickMs: number,
    private readonly pending: () => boolean,
    private readonly announce: () => void,
  ) {}

  soon(): void {
    if (this.#timer !== undefined || !this.pending()) return;
    const wait = this.#announcedAt + this.tickMs - Date.now();
    if (wait <= 0) this.now();
    else this.#timer = setTimeout(() => this.now(), wait);
  }

  now(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.pending()) return;
    this.#announcedAt = Date.now();
    this.announce();
  }
}
