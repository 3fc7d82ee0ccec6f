/**
 * The demo page's room connection: the browser copy of src/client/rooms.ts (RoomClient) without types, since the
 * page has no build step. It gets a fresh ticket per connection, reconnects through partysocket, resumes with
 * `since` and drops messages it has already seen. Keep the two in step.
 */
import ReconnectingWebSocket from "./vendor/partysocket-ws.js";

const FINAL_CLOSE_CODES = new Set([1003, 1008, 1009]);

export class RoomConnection {
  lastSeq = 0;
  members = [];
  #listeners = new Map();

  /** @param {{room: string, user: string, getTicket: (room: string, user: string) => Promise<string>}} options */
  constructor({ room, user, getTicket }) {
    this.room = room;
    this.user = user;
    this.socket = new ReconnectingWebSocket(
      async () => {
        const url = new URL(`/v1/rooms/${encodeURIComponent(room)}/ws`, location.href);
        url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
        url.searchParams.set("ticket", await getTicket(room, user));
        if (this.lastSeq > 0) url.searchParams.set("since", String(this.lastSeq));
        return url.toString();
      },
      undefined,
      {
        minReconnectionDelay: 500,
        maxReconnectionDelay: 10_000,
        shouldReconnectOnClose: (e) => !FINAL_CLOSE_CODES.has(e.code),
      },
    );
    this.socket.addEventListener("message", (e) => this.#receive(e.data));
    this.socket.addEventListener("open", () => this.#emit("open", {}));
    this.socket.addEventListener("close", (e) => this.#emit("close", { code: e.code, reason: e.reason }));
  }

  /** @param {"message"|"presence"|"welcome"|"ack"|"error"|"open"|"close"} event */
  on(event, listener) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return () => this.#listeners.get(event).delete(listener);
  }

  send(data, id = crypto.randomUUID()) {
    this.socket.send(JSON.stringify({ type: "message", data, id }));
    return id;
  }

  close() {
    this.socket.close(1000, "bye");
  }

  #receive(raw) {
    if (typeof raw !== "string") return;
    const frame = JSON.parse(raw);
    if (frame.type === "welcome") {
      this.members = frame.members;
      this.#emit("welcome", frame);
      for (const m of frame.history) this.#deliver(m);
    } else if (frame.type === "message") {
      this.#deliver(frame);
    } else if (frame.type === "presence") {
      this.members = frame.members;
      this.#emit("presence", frame);
    } else if (frame.type === "ack" || frame.type === "error") {
      this.#emit(frame.type, frame);
    }
  }

  #deliver(message) {
    if (message.seq <= this.lastSeq) return;
    this.lastSeq = message.seq;
    this.#emit("message", message);
  }

  #emit(event, value) {
    for (const listener of this.#listeners.get(event) ?? []) listener(value);
  }
}
