/**
 * Room kinds: what a room does with its members' joins, messages and departures, in plain TypeScript that a test
 * calls without a socket. A kind is a set of hooks (`onJoin`, `onMessage`, `onLeave`) and the state it keeps in its
 * room's SQLite (`KindState`: JSON values by key, at most ROOM_KIND_STATE_BYTES together). The registry that picks a
 * room's kind by its name is `kinds.ts`; the Room object calls the hooks through `KindRunner`, which applies each
 * hook's writes atomically (all or none) and turns what it answers (or throws) into what the room sends.
 *
 * A hook is synchronous: it reads and writes its state, decides and returns. It may not await (no fetch, no other
 * object): the room orders its messages one at a time, with no await between a message and its broadcast.
 * No platform imports.
 */
import type { ErrorFrame } from "./protocol";

/** A refusal: the member sees `type` (a problem slug) and `detail`, like any other refusal of the service. */
export interface Refusal {
  refuse: {
    /** A slug: `urn:edgeloop:problem:<type>` for the client. */
    type: string;
    detail: string;
    /** A message's refusal only (default 400); a refused join is always 403. */
    status?: number;
  };
}

/** What the room does after a hook accepted a join or a message. */
export interface Outcome {
  /** Messages in the service's name (`server: true`, from `server`), ordered and sent to every member, in order. */
  publish?: unknown[];
  /** To this member only: in its `welcome` (a join) or its `ack` (a message); never stored, never ordered. */
  reply?: unknown;
}

/** What the room does with an accepted message. */
export interface MessageOutcome extends Outcome {
  /**
   * The member's message as every member gets it (its `data`, as sent or changed), before what `publish` adds;
   * without it nothing goes out in the member's name.
   */
  broadcast?: unknown;
}

/**
 * The state a kind keeps in its room's SQLite: JSON values by key (keys 1-256 characters). It survives hibernation,
 * eviction and restarts, and goes with the room's storage (ROOM_RETENTION_HOURS). Writes past
 * ROOM_KIND_STATE_BYTES (keys and JSON values in UTF-8 bytes, together) throw `KindStateFullError`.
 *
 * @example
 * interface Counts { total: number; [user: `by:${string}`]: number }
 * const n = (state as KindState<Counts>).get("total") ?? 0;
 * state.set("total", n + 1);
 */
export interface KindState<S extends object = Record<string, unknown>> {
  get<K extends keyof S & string>(key: K): S[K] | undefined;
  set<K extends keyof S & string>(key: K, value: S[K]): void;
  delete(key: keyof S & string): void;
  /** The keys starting with `prefix`, in key order. */
  keys(prefix: string): (keyof S & string)[];
  /** The bytes it holds (keys and values, UTF-8). */
  readonly bytes: number;
}

/** What every hook is told. */
export interface HookContext<S extends object> {
  room: string;
  /** The member: the verified ticket's user. */
  user: string;
  state: KindState<S>;
  /** Who is present (sorted): before this join, after this departure. */
  members(): string[];
}

/**
 * A room kind. Every hook is optional: without `onMessage` a message is broadcast as sent (the chat room). One call
 * of `onJoin` per socket before it is accepted, of `onLeave` per socket the room sees leave.
 *
 * @example
 * const echo: RoomKind = { name: "echo", onMessage: ({ data }) => ({ reply: data }) };
 */
export interface RoomKind<S extends object = Record<string, unknown>> {
  /** Its name, for logs and errors. */
  name: string;
  onJoin?(ctx: HookContext<S>): Refusal | Outcome | undefined;
  onMessage?(ctx: HookContext<S> & { data: unknown }): Refusal | MessageOutcome;
  onLeave?(ctx: HookContext<S>): void;
}

/**
 * A kind for the registry: its hooks are checked against the state it declares, and the registry holds every kind
 * alike (the runner gives each hook the kind's own state).
 *
 * @example
 * export const poll = defineKind<PollStore>({ name: "poll", onMessage({ state }) { … } });
 */
export const defineKind = <S extends object>(kind: RoomKind<S>): RoomKind => kind as unknown as RoomKind;

/**
 * Whether a kind runs any hook (the default chat room runs none; a sharded room runs none).
 *
 * @example
 * hasHooks(kindOf("lobby")); // false
 */
export const hasHooks = (kind: RoomKind): boolean => !!(kind.onJoin || kind.onMessage || kind.onLeave);

/** A write past ROOM_KIND_STATE_BYTES: nothing of the hook that made it is kept. */
export class KindStateFullError extends RangeError {}

/** Where a kind's state lives: a SQLite table in the Room object, a Map in tests. */
export interface StateRows {
  get(key: string): string | undefined;
  put(key: string, value: string): void;
  delete(key: string): void;
  keys(prefix: string): string[];
  /** Bytes of every key and value (UTF-8). */
  bytes(): number;
  /** Run `fn`; if it throws, undo every write it made. */
  atomically<T>(fn: () => T): T;
}

const encoder = new TextEncoder();
const size = (text: string) => encoder.encode(text).byteLength;

/** `KindState` over `rows`, bounded to `maxBytes`. */
class BoundedState implements KindState {
  #bytes: number | undefined;

  constructor(
    private readonly rows: StateRows,
    private readonly maxBytes: number,
  ) {}

  get bytes(): number {
    this.#bytes ??= this.rows.bytes();
    return this.#bytes;
  }

  get(key: string): unknown {
    const text = this.rows.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  set(key: string, value: unknown): void {
    if (key.length < 1 || key.length > 256) throw new TypeError("a state key is 1-256 characters");
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError("a state value must be JSON");
    const old = this.rows.get(key);
    const bytes = this.bytes - (old === undefined ? 0 : size(key) + size(old)) + size(key) + size(text);
    if (bytes > this.maxBytes) {
      throw new KindStateFullError(`the room's state would exceed ROOM_KIND_STATE_BYTES (${this.maxBytes} bytes)`);
    }
    this.rows.put(key, text);
    this.#bytes = bytes;
  }

  delete(key: string): void {
    const old = this.rows.get(key);
    if (old === undefined) return;
    this.rows.delete(key);
    this.#bytes = this.bytes - size(key) - size(old);
  }

  keys(prefix: string): string[] {
    return this.rows.keys(prefix);
  }

  /** Run a hook: its writes all kept, or none (and the size counted again) if it throws. */
  atomically<T>(fn: () => T): T {
    try {
      return this.rows.atomically(fn);
    } catch (error) {
      this.recount();
      throw error;
    }
  }

  /** Count the size again at the next write (the rows changed under it). */
  recount(): void {
    this.#bytes = undefined;
  }
}

/**
 * State rows in memory, for testing a kind's hooks without a room.
 *
 * @example
 * const runner = new KindRunner(poll, "poll:lunch", memoryRows(), 65_536, () => ["ada"]);
 */
export function memoryRows(): StateRows {
  let map = new Map<string, string>();
  return {
    get: (key) => map.get(key),
    put: (key, value) => map.set(key, value) && undefined,
    delete: (key) => map.delete(key) && undefined,
    keys: (prefix) => [...map.keys()].filter((k) => k.startsWith(prefix)).sort(),
    bytes: () => [...map].reduce((n, [k, v]) => n + size(k) + size(v), 0),
    atomically(fn) {
      const before = new Map(map);
      try {
        return fn();
      } catch (error) {
        map = before;
        throw error;
      }
    },
  };
}

/**
 * A join's verdict, for the Room: refused (403 with the kind's type; 500 `kind-failed` when the hook threw, 413
 * `kind-state-full` past ROOM_KIND_STATE_BYTES) or let in.
 */
export type JoinVerdict =
  | { refused: { status: number; type: string; detail: string } }
  | { publish: unknown[]; reply?: unknown };

/** A message's verdict, for the Room: an error frame for the sender, or what to send. */
export type MessageVerdict =
  | { error: Omit<ErrorFrame, "type" | "id"> }
  | { broadcast?: { data: unknown }; publish: unknown[]; reply?: unknown };

/** What a hook publishes, checked: a list of JSON values (anything else fails the hook, as a throw does). */
function published(list: unknown[] | undefined): unknown[] {
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.some((data) => data === undefined)) {
    throw new TypeError("publish must be a list of JSON values");
  }
  return list;
}

/**
 * Runs a room's kind: each hook with its context, its writes atomic, its answer checked and turned into what the
 * room sends. A hook that throws (or answers what is not an answer) changes nothing: its member is told (an error frame, or a 500 refusal of the join)
 * and the room goes on; `onError` hears of it (the Room logs it).
 *
 * @example
 * const runner = new KindRunner(poll, "poll:lunch", memoryRows(), 65_536, () => []);
 * runner.message("ada", { open: { question: "Lunch?", options: ["pizza", "soup"] } }); // { publish: [state] }
 */
export class KindRunner {
  readonly #state: BoundedState;

  constructor(
    readonly kind: RoomKind,
    private readonly room: string,
    rows: StateRows,
    maxBytes: number,
    private readonly members: () => string[],
    private readonly onError: (hook: string, error: unknown) => void = () => {},
  ) {
    this.#state = new BoundedState(rows, maxBytes);
  }

  /** The bytes the kind's state holds. */
  get bytes(): number {
    return this.#state.bytes;
  }

  join(user: string): JoinVerdict {
    const answer = this.#run("onJoin", user, (ctx): JoinVerdict => {
      const value = this.kind.onJoin?.(ctx);
      if (value && "refuse" in value) return { refused: { status: 403, ...value.refuse } };
      return { publish: published(value?.publish), ...(value?.reply === undefined ? {} : { reply: value.reply }) };
    });
    if (!("failed" in answer)) return answer.value;
    const { status, code, message } = answer.failed;
    return { refused: { status, type: code, detail: message } };
  }

  message(user: string, data: unknown): MessageVerdict {
    const onMessage = this.kind.onMessage;
    if (!onMessage) return { broadcast: { data }, publish: [] };
    const answer = this.#run("onMessage", user, (ctx): MessageVerdict => {
      const value = onMessage.call(this.kind, { ...ctx, data });
      if ("refuse" in value) {
        const { type, detail, status = 400 } = value.refuse;
        return { error: { code: type, message: detail, status } };
      }
      return {
        ...(value.broadcast === undefined ? {} : { broadcast: { data: value.broadcast } }),
        publish: published(value.publish),
        ...(value.reply === undefined ? {} : { reply: value.reply }),
      };
    });
    return "failed" in answer ? { error: answer.failed } : answer.value;
  }

  leave(user: string): void {
    this.#run("onLeave", user, (ctx) => this.kind.onLeave?.(ctx));
  }

  #run<T>(
    hook: string,
    user: string,
    fn: (ctx: HookContext<Record<string, unknown>>) => T,
  ): { value: T } | { failed: { code: string; message: string; status: number } } {
    const ctx = { room: this.room, user, state: this.#state, members: this.members };
    try {
      return { value: this.#state.atomically(() => fn(ctx)) };
    } catch (error) {
      if (error instanceof KindStateFullError) {
        return { failed: { code: "kind-state-full", message: `Refused: ${error.message}.`, status: 413 } };
      }
      this.onError(hook, error);
      const message = `The room's ${this.kind.name} ${hook} hook failed: nothing of it was applied.`;
      return { failed: { code: "kind-failed", message, status: 500 } };
    }
  }
}
