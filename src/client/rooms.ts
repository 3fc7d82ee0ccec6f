/**
 * The rooms client for browsers and Node: gets a fresh ticket for every connection, connects through
 * partysocket's reconnecting WebSocket (backoff, and buffering of what is sent while disconnected), resumes with
 * `since` after a drop so no message is missed or seen twice. It reads the way asyncio's `websockets` does:
 * `await room.ready` (the welcome, or the refusal of the join), `await room.send(data)` (the ack), `for await (const m
 * of room)` until the room is closed, `await using room = …` (or `await room.close()`); and it exposes typed events
 * (a job's progress among them, read only from messages the service itself published).
 *
 * Relative imports carry `.js` (TypeScript maps them to the `.ts` files): `edgeloop/client` is TypeScript source, and
 * a consumer's TypeScript checks it under moduleResolution `bundler` and `nodenext` alike.
 */
import ReconnectingWebSocket from "partysocket/ws";
import { type JobProgress, jobProgressOf } from "../jobs/protocol.js";
import {
  type AckFrame,
  CLOSE,
  type ErrorFrame,
  type PresenceEventFrame,
  type PresenceFrame,
  type RoomMessage,
  type ServerFrame,
  type WelcomeFrame,
} from "../rooms/protocol.js";
import { EdgeloopError, RoomClosedError } from "./errors.js";
import { Feed } from "./feed.js";
import { asyncDispose } from "./lease.js";

export { type JobProgress, jobProgressOf } from "../jobs/protocol.js";
export {
  type AckFrame,
  type ErrorFrame,
  type PollAction,
  type PollState,
  type PollWelcome,
  type PresenceFrame,
  pollOf,
  type RoomMessage,
  type WelcomeFrame,
} from "../rooms/protocol.js";

/** A `presence` event: who joined and left since the last one, and the members present now (sorted). */
export interface PresenceChange extends Omit<PresenceFrame, "type"> {
  members: string[];
}

export interface RoomClientOptions {
  /** The service, e.g. `http://127.0.0.1:8787`; in a page served by the service, omit it (the page's origin). */
  baseUrl?: string;
  room: string;
  user: string;
  /** Bearer token used to ask `POST /v1/rooms/:room/tickets` for a ticket on each (re)connection. */
  token?: string;
  /** Or: your own way to get a ticket (e.g. from your backend, which holds the token). */
  getTicket?: (room: string, user: string) => Promise<string>;
  /** Ticket lifetime asked for (default 60 s; a ticket only has to outlive the handshake). */
  ttlSec?: number;
  /** A WebSocket implementation where there is no global one (e.g. the `ws` package in old Node). */
  WebSocket?: unknown;
  fetch?: typeof fetch;
  /** Backoff between reconnections (partysocket's defaults otherwise). */
  minReconnectionDelay?: number;
  maxReconnectionDelay?: number;
}

export interface RoomEvents {
  /**
   * Every room message once, in seq order, including history on join and the gap after a reconnection. Only
   * `server: true` proves the service sent it; `from` alone is a name.
   */
  message: RoomMessage;
  /** A job's progress (in room `job:<id>`): only what the service itself published, never a member's look-alike. */
  jobProgress: JobProgress;
  /** Who joined and left (announced together, a few per second at most), and the members after that. */
  presence: PresenceChange;
  welcome: WelcomeFrame;
  ack: AckFrame;
  error: ErrorFrame;
  /** The connection closed (it reconnects by itself unless the server closed it for a policy reason). */
  close: { code: number; reason: string };
}

type Listener<K extends keyof RoomEvents> = (event: RoomEvents[K]) => void;

/** The address of the page this runs in, if it runs in one. */
const pageUrl = (): string | undefined => (globalThis as { location?: { href: string } }).location?.href;

/** Close codes after which reconnecting would only repeat the offence. */
const FINAL_CLOSE_CODES = new Set<number>([CLOSE.unsupported, CLOSE.policy, CLOSE.tooBig]);

/**
 * A refused join, as the service tells it to a client that asks (`refusal=close`): the socket opens and closes at
 * once with 4000 + the HTTP status and `<problem type> <detail>` as its reason (browsers cannot read a refused
 * upgrade's answer).
 */
const isRefusal = (code: number): boolean => code >= 4000 && code < 5000;

/** A refusal that a new ticket and a later try do not change: a forged or used ticket, a forbidden Origin. */
const isFinalRefusal = (code: number): boolean => code === 4400 || code === 4401 || code === 4403;

function refusalError(code: number, reason: string): EdgeloopError {
  const space = reason.indexOf(" ");
  const slug = space > 0 ? reason.slice(0, space) : reason || `http-${code - 4000}`;
  return new EdgeloopError({
    type: `urn:edgeloop:problem:${slug}`,
    title: "Join refused",
    status: code - 4000,
    detail: space > 0 ? reason.slice(space + 1) : `The room refused the join (${slug}).`,
  });
}

interface PendingSend {
  resolve(ack: AckFrame): void;
  reject(error: Error): void;
  /** The connection it went out on (buffered sends: the next one). */
  connection: number;
}

/** A promise whose rejection is not reported as unhandled when nobody awaits it (an event says it too). */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * A member of one room. `ready` resolves with the welcome (members, history) or rejects with the refusal;
 * `send(data)` resolves with the message's ack (its `seq`); the room is an async iterable of its messages, ending
 * when it is closed; `close()` (or `await using`) closes it. Events (`on`) say the same as they happen.
 *
 * @example
 * await using room = client.room("lobby", "ada"); // or new RoomClient({ baseUrl, room, user, token })
 * const welcome = await room.ready; // EdgeloopError `ticket-used`, `room-full`… if the join is refused
 * console.log(welcome.members, welcome.history.length);
 * const { seq } = await room.send({ text: "hello" }); // EdgeloopError `rate-limited`, RoomClosedError…
 * for await (const message of room) {
 *   console.log(message.seq, message.from, message.data);
 *   if (message.data === "bye") break;
 * } // closed here (or call `await room.close()` where `await using` is not available)
 *
 * @example
 * // Typed events, for code that reacts rather than loops:
 * lobby.on("message", (m) => console.log(m.seq, m.from, m.data));
 * lobby.on("presence", (p) => console.log("joined", p.joined, "left", p.left, "now", p.members));
 *
 * @example
 * // A job's progress: the `room` POST /v1/jobs answered (job:<id>).
 * const job = new RoomClient({ baseUrl, room: `job:${id}`, user: "watcher", token });
 * job.on("jobProgress", (p) => console.log(p.state, p.done, p.total));
 *
 * @example
 * // In a page served by the service (the demo page): its own origin, and tickets fetched its own way.
 * const room = new RoomClient({ room: "lobby", user: "ada", getTicket: (room, user) => myBackend.ticket(room, user) });
 */
export class RoomClient implements AsyncIterable<RoomMessage> {
  /** The last seq received: the next connection asks for what came after it. */
  lastSeq = 0;
  /** Who is in the room (sorted): from the welcome, kept up to date by presence frames. */
  members: string[] = [];
  /**
   * The first welcome: who is here and the history. Rejects with an `EdgeloopError` when the join is refused (its
   * `type` ends with `ticket-used`, `room-full`, `too-many-sockets`, `origin-not-allowed`… and `status` is the HTTP
   * status of the refusal), or a `RoomClosedError` when the room is closed first. A refused join closes the client.
   */
  readonly ready: Promise<WelcomeFrame>;
  readonly socket: ReconnectingWebSocket;
  readonly #options: RoomClientOptions;
  readonly #baseUrl: string;
  readonly #listeners = new Map<keyof RoomEvents, Set<(event: never) => void>>();
  readonly #messages = new Feed<RoomMessage>();
  readonly #presence = new Feed<PresenceChange>();
  readonly #pending = new Map<string, PendingSend>();
  #welcomed = false;
  #settleReady!: { resolve(welcome: WelcomeFrame): void; reject(error: Error): void };
  /** Connections opened so far: a send knows which one it went out on. */
  #connection = 0;
  #ticketError: unknown;
  #closed: Error | undefined;

  constructor(options: RoomClientOptions) {
    if (!options.token && !options.getTicket) throw new TypeError("RoomClient needs a token or getTicket");
    const baseUrl = options.baseUrl ?? pageUrl();
    if (!baseUrl) throw new TypeError("RoomClient needs a baseUrl outside a page");
    this.#baseUrl = baseUrl;
    this.#options = options;
    this.ready = handled(
      new Promise<WelcomeFrame>((resolve, reject) => {
        this.#settleReady = { resolve, reject };
      }),
    );
    this.socket = new ReconnectingWebSocket(() => this.#nextUrl(), undefined, {
      WebSocket: options.WebSocket,
      minReconnectionDelay: options.minReconnectionDelay ?? 500,
      maxReconnectionDelay: options.maxReconnectionDelay ?? 10_000,
      shouldReconnectOnClose: (e) =>
        !FINAL_CLOSE_CODES.has(e.code) && !(isRefusal(e.code) && (!this.#welcomed || isFinalRefusal(e.code))),
    });
    this.socket.addEventListener("open", () => {
      this.#connection++;
    });
    this.socket.addEventListener("message", (e) => this.#receive(e.data));
    this.socket.addEventListener("close", (e) => this.#closedBy(e.code, e.reason));
    this.socket.addEventListener("error", () => {
      // The ticket could not be had (refused, or the service unreachable): before the first welcome that ends it.
      if (!this.#welcomed && this.#ticketError !== undefined) this.#shut(toError(this.#ticketError));
    });
  }

  /** Register a listener; returns a function that removes it. */
  on<K extends keyof RoomEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (event: never) => void);
    return () => set.delete(listener as (event: never) => void);
  }

  /**
   * Send a message (buffered while disconnected). Resolves with its ack `{id, seq}` once the room has stored and
   * broadcast it (in a room of a kind, `{id, seq, reply?}`: what the kind answered the sender only, and `seq` 0 when
   * it ordered nothing); rejects with an `EdgeloopError` (`rate-limited`, `bad-message`, or the kind's refusal, such
   * as a poll's `already-voted` with its status) when the room refuses it, or a
   * `RoomClosedError` when the socket closes for good first (a frame over ROOM_MAX_MESSAGE_BYTES closes it: 1009). A
   * message sent into a connection that dropped, and not found in the history after reconnecting, rejects as lost.
   * Not awaiting it is fine: a refusal is an `error` event too.
   *
   * @example
   * const { seq } = await room.send({ text: "hello" });
   * const { reply } = await poll.send({ vote: 1 }); // { voted: 1 } in a poll room
   */
  send(data: unknown, id: string = crypto.randomUUID()): Promise<AckFrame> {
    if (this.#closed) return handled(Promise.reject(this.#closed));
    if (this.#pending.has(id)) return handled(Promise.reject(new TypeError(`a message with id ${id} is in flight`)));
    const open = this.socket.readyState === ReconnectingWebSocket.OPEN;
    const acked = handled(
      new Promise<AckFrame>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject, connection: open ? this.#connection : this.#connection + 1 });
      }),
    );
    this.socket.send(JSON.stringify({ type: "message", data, id }));
    return acked;
  }

  /** The room's messages, from the history on join, each once in seq order; the loop ends when the room is closed. */
  [Symbol.asyncIterator](): AsyncIterator<RoomMessage> {
    return this.#messages[Symbol.asyncIterator]();
  }

  /**
   * Who joined and left, as an async iterable (the `presence` events); ends when the room is closed.
   *
   * @example
   * for await (const change of room.presence()) console.log(change.joined, change.left, change.members);
   */
  presence(): AsyncIterable<PresenceChange> {
    return this.#presence;
  }

  /** Drop the connection and connect again (resuming after `lastSeq`). */
  reconnect(): void {
    this.socket.reconnect();
  }

  /**
   * Close the room for good: the socket, every loop over it (they end), and what is pending (`ready`, sends: they
   * reject with a `RoomClosedError`). What `await using` calls at the end of its block.
   */
  async close(): Promise<void> {
    this.#shut(new RoomClosedError(1000, "closed by the client"));
  }

  /** `await using room = client.room(…)`: closed at the end of the block. */
  async [asyncDispose](): Promise<void> {
    await this.close();
  }

  async #nextUrl(): Promise<string> {
    const { room, user } = this.#options;
    this.#ticketError = undefined;
    let ticket: string;
    try {
      ticket = this.#options.getTicket ? await this.#options.getTicket(room, user) : await this.#fetchTicket();
    } catch (err) {
      this.#ticketError = err;
      throw err;
    }
    const url = new URL(`/v1/rooms/${encodeURIComponent(room)}/ws`, this.#baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("ticket", ticket);
    // A refused join is told as a close code and reason, which every WebSocket implementation can read.
    url.searchParams.set("refusal", "close");
    if (this.lastSeq > 0) url.searchParams.set("since", String(this.lastSeq));
    return url.toString();
  }

  async #fetchTicket(): Promise<string> {
    const { room, user, token, ttlSec = 60 } = this.#options;
    const doFetch = this.#options.fetch ?? fetch;
    const res = await doFetch(new URL(`/v1/rooms/${encodeURIComponent(room)}/tickets`, this.#baseUrl), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ user, ttlSec }),
    });
    if (!res.ok) throw await EdgeloopError.from(res);
    return ((await res.json()) as { ticket: string }).ticket;
  }

  #receive(raw: unknown): void {
    if (typeof raw !== "string") return;
    const frame = JSON.parse(raw) as ServerFrame;
    switch (frame.type) {
      case "welcome":
        this.members = frame.members;
        // A room behind what we saw was forgotten after its retention and started again: its seqs start again too.
        if (frame.lastSeq < this.lastSeq) this.lastSeq = 0;
        this.#emit("welcome", frame);
        for (const m of frame.history) this.#deliver(m);
        this.#welcomed = true;
        this.#settleReady.resolve(frame);
        this.#dropLost();
        break;
      case "message":
        this.#deliver(frame);
        break;
      case "presence": {
        const change = this.#present(frame as PresenceFrame | PresenceEventFrame);
        this.#emit("presence", change);
        this.#presence.push(change);
        break;
      }
      case "ack":
        this.#settle(frame.id, frame);
        this.#emit("ack", frame);
        break;
      case "error":
        this.#refused(frame);
        this.#emit("error", frame);
        break;
    }
  }

  /** Apply a presence frame (or one of the old, one-change kind) to `members`. */
  #present(frame: PresenceFrame | PresenceEventFrame): PresenceChange {
    if ("event" in frame) {
      this.members = frame.members;
      const change = [frame.user];
      return frame.event === "joined"
        ? { joined: change, left: [], count: frame.count, members: frame.members }
        : { joined: [], left: change, count: frame.count, members: frame.members };
    }
    const present = new Set(this.members);
    for (const user of frame.left) present.delete(user);
    for (const user of frame.joined) present.add(user);
    this.members = [...present].sort();
    return { joined: frame.joined, left: frame.left, count: frame.count, members: this.members };
  }

  #deliver(message: RoomMessage): void {
    if (message.seq <= this.lastSeq) return; // already seen before a reconnection
    this.lastSeq = message.seq;
    // Our own message, seen in the stream: acknowledged even if its ack was lost with a connection.
    if (message.from === this.#options.user && !message.server) {
      this.#settle(message.id, { type: "ack", id: message.id, seq: message.seq });
    }
    this.#emit("message", message);
    this.#messages.push(message);
    const progress = jobProgressOf(message);
    if (progress) this.#emit("jobProgress", progress);
  }

  #settle(id: string, ack: AckFrame): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    pending.resolve(ack);
  }

  /** A message the room refused: the send it answers (by id; an older room's frame without one: the oldest). */
  #refused(frame: ErrorFrame): void {
    const id = frame.id ?? this.#pending.keys().next().value;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!id || !pending) return;
    this.#pending.delete(id);
    const status = frame.status ?? (frame.code === "rate-limited" ? 429 : 400);
    pending.reject(
      new EdgeloopError({ type: `urn:edgeloop:problem:${frame.code}`, title: "", status, detail: frame.message }),
    );
  }

  /** After a welcome: sends that went out on an earlier connection and are not in the history were lost with it. */
  #dropLost(): void {
    for (const [id, pending] of this.#pending) {
      if (pending.connection >= this.#connection) continue;
      this.#pending.delete(id);
      pending.reject(new RoomClosedError(1006, `message ${id} was lost with a dropped connection: send it again`));
    }
  }

  #closedBy(code: number, reason: string): void {
    this.#emit("close", { code, reason });
    if (this.#closed) return;
    if (isRefusal(code) && (!this.#welcomed || isFinalRefusal(code))) this.#shut(refusalError(code, reason));
    else if (FINAL_CLOSE_CODES.has(code)) this.#shut(new RoomClosedError(code, reason));
  }

  /** Closed for good: the socket, the loops (ending, or failing with a refusal), what is pending. */
  #shut(reason: Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    this.socket.close(1000, "bye");
    this.#settleReady.reject(reason);
    for (const pending of this.#pending.values()) pending.reject(reason);
    this.#pending.clear();
    const failure = reason instanceof RoomClosedError && reason.code === 1000 ? undefined : reason;
    this.#messages.end(failure);
    this.#presence.end(failure);
  }

  #emit<K extends keyof RoomEvents>(event: K, value: RoomEvents[K]): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as Listener<K>)(value);
  }
}

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
