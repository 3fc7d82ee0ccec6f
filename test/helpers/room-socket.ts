/**
 * Test helpers for rooms in workerd: get a ticket, open a room socket through the Worker, and wait for frames.
 * Every wait rejects when the socket errors, closes or a timeout passes, so a broken room fails fast.
 */
import { exports } from "cloudflare:workers";
import type { ServerFrame } from "../../src/rooms/protocol";

export const BASE = "http://edgeloop.test";
export const AUTH = { authorization: "Bearer test-token", "content-type": "application/json" };

export async function ticketFor(room: string, user: string, ttlSec?: number): Promise<string> {
  const res = await exports.default.fetch(`${BASE}/v1/rooms/${room}/tickets`, {
    method: "POST",
    headers: AUTH,
    body: JSON.stringify(ttlSec === undefined ? { user } : { user, ttlSec }),
  });
  if (res.status !== 201) throw new Error(`ticket: ${res.status} ${await res.text()}`);
  return (await res.json<{ ticket: string }>()).ticket;
}

/** The upgrade request as a client sends it; the response is either 101 with a socket or a problem. */
export function upgrade(room: string, query: string, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(`${BASE}/v1/rooms/${room}/ws?${query}`, {
    headers: { upgrade: "websocket", ...headers },
  });
}

type Predicate = (frame: ServerFrame) => boolean;

export class RoomSocket {
  readonly frames: ServerFrame[] = [];
  closedWith: { code: number; reason: string } | undefined;
  #waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(e.data as string) as ServerFrame);
      this.#notify();
    });
    ws.addEventListener("close", (e) => {
      this.closedWith = { code: e.code, reason: e.reason };
      this.#notify();
    });
    ws.addEventListener("error", () => {
      this.closedWith ??= { code: 1006, reason: "error" };
      this.#notify();
    });
  }

  /** Join `room` as `user` (a fresh ticket) and wait for the welcome. */
  static async join(room: string, user: string, query = ""): Promise<RoomSocket> {
    const socket = await RoomSocket.open(room, await ticketFor(room, user), query);
    await socket.next((f) => f.type === "welcome");
    return socket;
  }

  /** Open a socket with `ticket`, not waiting for the welcome (it may send at once). */
  static async open(room: string, ticket: string, query = ""): Promise<RoomSocket> {
    const res = await upgrade(room, `ticket=${encodeURIComponent(ticket)}${query}`);
    if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade: ${res.status} ${await res.text()}`);
    res.webSocket.accept();
    return new RoomSocket(res.webSocket);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The first frame (from the start of this socket) matching `predicate`, waiting for it if needed. */
  next<T extends ServerFrame = ServerFrame>(predicate: Predicate, timeoutMs = 3_000): Promise<T> {
    return this.#waitFor(() => this.frames.find(predicate) as T | undefined, timeoutMs, "frame");
  }

  /** Wait until `count` frames match `predicate`; returns them in arrival order. */
  all<T extends ServerFrame = ServerFrame>(predicate: Predicate, count: number, timeoutMs = 3_000): Promise<T[]> {
    return this.#waitFor(
      () => {
        const found = this.frames.filter(predicate) as T[];
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
      `${count} frames`,
    );
  }

  /** Wait for the server to close the socket. */
  closed(timeoutMs = 3_000): Promise<{ code: number; reason: string }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this.closedWith) return false;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(this.closedWith);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error("timed out waiting for close"));
      }, timeoutMs);
      if (!check()) this.#waiters.add(check);
    });
  }

  close(): void {
    try {
      this.ws.close(1000, "done");
    } catch {
      // already closed
    }
  }

  /** `using ada = await RoomSocket.join(room, "ada")` closes it when the test's scope ends, whatever happened. */
  [Symbol.dispose](): void {
    this.close();
  }

  #waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (value !== undefined) {
          finish();
          resolve(value);
          return true;
        }
        if (this.closedWith) {
          finish();
          reject(new Error(`socket closed (${this.closedWith.code} ${this.closedWith.reason}) waiting for ${what}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      if (!check()) this.#waiters.add(check);
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Close every socket, whatever happened: use in `finally`. */
export function closeAll(...sockets: (RoomSocket | undefined)[]): void {
  for (const s of sockets) s?.close();
}
