/**
 * A refused join told as a close: a WebSocket client cannot read the answer to a refused upgrade (a browser sees a
 * bare 1006), so a client that asks for it (`?refusal=close`, as RoomClient does) gets a socket that opens and closes
 * at once, with 4000 + the refusal's HTTP status as its code and `<problem slug> <detail>` as its reason. The socket
 * is not the room's: nothing is joined, nothing is held after the close.
 */
import { CLOSE_REASON_MAX_BYTES, REFUSAL_CLOSE_BASE } from "./protocol";

const PREFIX = "urn:edgeloop:problem:";
const encoder = new TextEncoder();

/** `text` cut to fit a close frame's reason (123 bytes of UTF-8). */
function fitReason(text: string): string {
  let reason = text;
  while (encoder.encode(reason).byteLength > CLOSE_REASON_MAX_BYTES) reason = reason.slice(0, -1);
  return reason;
}

/**
 * The refusal `res` (a problem+json answer) as a socket that closes at once with its status and type.
 *
 * @example
 * if (asked && !res.webSocket) return refusedSocket(res); // 401 ticket-used → close 4401 "ticket-used The ticket…"
 */
export async function refusedSocket(res: Response): Promise<Response> {
  const body = await res.json<{ type?: unknown; detail?: unknown }>().catch(() => ({}) as { type?: unknown });
  const type = typeof body.type === "string" ? body.type : "";
  const slug = type.startsWith(PREFIX) ? type.slice(PREFIX.length) : `http-${res.status}`;
  const detail = "detail" in body && typeof body.detail === "string" ? body.detail : "";
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  server.close(REFUSAL_CLOSE_BASE + res.status, fitReason(`${slug} ${detail}`.trim()));
  return new Response(null, { status: 101, webSocket: client });
}
