// The platform's limit for a room (bench/rooms.bench.ts): the least a hibernating broadcast Durable Object can be.
// The Worker forwards the upgrade to one object, which accepts the socket with the Hibernation API and, on each
// message, numbers it, serialises it once and sends it to every socket, then acks the sender: what the Node `ws`
// baseline does, in a Durable Object. Nothing else: no storage, no presence, no limits, no tickets.
import { DurableObject } from "cloudflare:workers";

export class BroadcastRoom extends DurableObject {
  seq = 0;

  async fetch() {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, raw) {
    const frame = JSON.parse(raw);
    const seq = ++this.seq;
    const text = JSON.stringify({ type: "message", seq, id: frame.id, from: "x", data: frame.data, ts: Date.now() });
    for (const socket of this.ctx.getWebSockets()) socket.send(text);
    ws.send(JSON.stringify({ type: "ack", id: frame.id, seq }));
  }

  webSocketClose(ws, code, reason) {
    ws.close(code, reason);
  }
}

export default {
  fetch: (request, env) => env.ROOM.getByName(new URL(request.url).pathname).fetch(request),
};
