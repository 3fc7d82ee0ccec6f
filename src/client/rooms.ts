/**
 * The rooms client for browsers and Node: gets a fresh ticket for every connection, connects through
 * partysocket's reconnecting WebSocket (backoff, and buffering of what is sent while disconnected), resumes with
 * `since` after a drop so no message is missed or seen twice, and exposes typed events (a job's progress among them,
 * read only from messages the service itself published).
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

export { type JobProgress, jobProgressOf } from "../jobs/protocol.js";
export type { AckFrame, ErrorFrame, PresenceFrame, RoomMessage, WelcomeFrame } from "../rooms/protocol.js";

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
 * A member of one room.
 *
 * @example
 * const lobby = new RoomClient({ baseUrl: "http://127.0.0.1:8787", room: "lobby", user: "ada", token });
 * lobby.on("message", (m) => console.log(m.seq, m.from, m.data));
 * lobby.on("presence", (p) => console.log("joined", p.joined, "left", p.left, "now", p.members));
 * lobby.send({ text: "hello" });
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
export class RoomClient {
  /** The last seq received: the next connection asks for what came after it. */
  lastSeq = 0;
  /** Who is in the room (sorted): from the welcome, kept up to date by presence frames. */
  members: string[] = [];
  readonly socket: ReconnectingWebSocket;
  readonly #options: RoomClientOptions;
  readonly #baseUrl: string;
  readonly #listeners = new Map<keyof RoomEvents, Set<(event: never) => void>>();

  constructor(options: RoomClientOptions) {
    if (!options.token && !options.getTicket) throw new TypeError("RoomClient needs a token or getTicket");
    const baseUrl = options.baseUrl ?? pageUrl();
    if (!baseUrl) throw new TypeError("RoomClient needs a baseUrl outside a page");
    this.#baseUrl = baseUrl;
    this.#options = options;
    this.socket = new ReconnectingWebSocket(() => this.#nextUrl(), undefined, {
      WebSocket: options.WebSocket,
      minReconnectionDelay: options.minReconnectionDelay ?? 500,
      maxReconnectionDelay: options.maxReconnectionDelay ?? 10_000,
      shouldReconnectOnClose: (e) => !FINAL_CLOSE_CODES.has(e.code),
    });
    this.socket.addEventListener("message", (e) => this.#receive(e.data));
    this.socket.addEventListener("close", (e) => this.#emit("close", { code: e.code, reason: e.reason }));
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

  /** Send a message (buffered while disconnected); returns its id, which the `ack` carries. */
  send(data: unknown, id: string = crypto.randomUUID()): string {
    this.socket.send(JSON.stringify({ type: "message", data, id }));
    return id;
  }

  /** Drop the connection and connect again (resuming after `lastSeq`). */
  reconnect(): void {
    this.socket.reconnect();
  }

  close(): void {
    this.socket.close(1000, "bye");
  }

  async #nextUrl(): Promise<string> {
    const { room, user } = this.#options;
    const ticket = this.#options.getTicket ? await this.#options.getTicket(room, user) : await this.#fetchTicket();
    const url = new URL(`/v1/rooms/${encodeURIComponent(room)}/ws`, this.#baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("ticket", ticket);
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
    if (!res.ok) throw new Error(`ticket refused: ${res.status} ${await res.text()}`);
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
        break;
      case "message":
        this.#deliver(frame);
        break;
      case "presence":
        this.#emit("presence", this.#present(frame as PresenceFrame | PresenceEventFrame));
        break;
      case "ack":
        this.#emit("ack", frame);
        break;
      case "error":
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
    this.#emit("message", message);
    const progress = jobProgressOf(message);
    if (progress) this.#emit("jobProgress", progress);
  }

  #emit<K extends keyof RoomEvents>(event: K, value: RoomEvents[K]): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as Listener<K>)(value);
  }
}
