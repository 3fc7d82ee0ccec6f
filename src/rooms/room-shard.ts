/**
 * RoomShard: one of the K objects (`room#i`) that hold a sharded room's sockets; the room's Room object is its
 * sequencer. It applies the same per-socket rules as an unsharded room (socket handling shared in `room-sockets.ts`:
 * ticket user's join limit, single-use tickets, ROOM_MAX_CONNECTIONS sockets, ROOM_MAX_SOCKETS_PER_USER per user,
 * message size and rate), sends the sequencer its sockets' joins, messages and departures in order through one pipe,
 * and plays the sequencer's stream to its sockets in seq order, once (`ShardStream`): a batch ahead of a gap waits
 * while the gap is filled from the sequencer's history. It hibernates like a room: the sockets' attachments say who
 * is here and who had its welcome, SQLite keeps the last seq it played; after it wakes it tells the sequencer who it
 * really holds.
 *
 * Reached by the Worker (`fetch`: the upgrade, after it verified a ticket and found this user's shard) and by its
 * sequencer (`deliver`, `forget`). A join the sequencer refuses or does not answer gives its ticket back. Idle and
 * empty, it deletes its storage by alarm after ROOM_RETENTION_HOURS (`room-sockets.ts`).
 */
import { problem } from "../http/problem";
import type { ClientFrame } from "./protocol";
import { Pipe } from "./room-pipe";
import { type Connection, type Member, RoomSockets, send, sendText, staleTicket } from "./room-sockets";
import {
  type Batch,
  type OpResult,
  PIPE_MAX_ITEMS,
  type ShardOp,
  ShardStream,
  type StreamStep,
  shardOfName,
} from "./room-stream";

/** The header the Worker adds for a sharded room's upgrade: the room's shard count the ticket was signed for. */
export const ROOM_SHARDS_HEADER = "x-edgeloop-room-shards";

const SHARD_SCHEMA = "CREATE TABLE IF NOT EXISTS shard (key TEXT PRIMARY KEY, value)";

export class RoomShard extends RoomSockets {
  /** Its room and index, from its own name (`room#i`). */
  readonly #place: { room: string; shard: number };
  #stream: ShardStream | undefined;
  #pipe: Pipe<ShardOp, OpResult> | undefined;
  /** Acks waiting for their message to be played here first (the sender sees its message, then its ack). */
  readonly #acks = new Map<number, { ws: WebSocket; id: string }>();
  /** Sockets waiting for their welcome, by connection id. */
  readonly #waiting = new Map<string, WebSocket>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SHARD_SCHEMA);
    const rows = new Map(
      ctx.storage.sql
        .exec<{ key: string; value: string | number }>("SELECT key, value FROM shard")
        .toArray()
        .map((r) => [r.key, r.value]),
    );
    this.#place = shardOfName(ctx.id.name ?? "");
    const cursor = rows.get("cursor");
    this.#stream = new ShardStream(cursor === undefined ? undefined : Number(cursor));
  }

  /** The WebSocket upgrade, forwarded by the Worker after it checked a ticket naming this shard, and the Origin. */
  override async fetch(request: Request): Promise<Response> {
    const shards = Number(request.headers.get(ROOM_SHARDS_HEADER));
    if (!Number.isInteger(shards)) return problem(400, "Not an upgrade.").getResponse();
    const admitted = this.admit(request);
    if (admitted instanceof Response) return admitted;
    const { user, since, now } = admitted;
    const { client, server, member } = this.accept(user, now, false);
    // The shard's own presence only counts connections (the per-user cap): the sequencer announces changes.
    this.presence.endTick();
    this.#waiting.set(member.connection.id, server);
    let answer: OpResult;
    try {
      answer = await this.#sequencer().call({
        op: "join",
        conn: member.connection.id,
        user,
        shards,
        ...(since === undefined ? {} : { since }),
      });
    } catch {
      answer = { ok: false, reason: "stale-layout", shards: -1 };
    }
    if (!answer.ok) {
      this.#waiting.delete(member.connection.id);
      this.closeAndLeave(server, 1011, "join refused", false);
      this.presence.endTick();
      // Refused for the service's own reasons: the ticket (and the join counted) are given back, for the retry.
      admitted.undo();
      if (answer.shards >= 0) return staleTicket();
      const detail = "The room did not answer: try again (with the same ticket, while it is valid).";
      return problem(503, detail, { headers: { "retry-after": "1" } }).getResponse();
    }
    // Its welcome comes with the stream, at its place in the room's order.
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A turn of the room's stream, from the sequencer: played to the ready sockets in seq order, once. */
  async deliver(batch: Batch): Promise<void> {
    const live = [...this.members().values()].some((m) => m.connection.ready);
    this.#play(this.#streamState().receive(batch, live));
  }

  protected override received(ws: WebSocket, member: Member, frame: Extract<ClientFrame, { type: "message" }>): void {
    const id = frame.id ?? crypto.randomUUID();
    this.#sequencer()
      .call({ op: "message", user: member.connection.user, id, data: frame.data })
      .then((answer) => {
        if (!answer.ok || answer.seq === undefined) throw new Error("refused");
        if ((this.#streamState().cursor ?? 0) >= answer.seq) send(ws, { type: "ack", id, seq: answer.seq });
        else this.#acks.set(answer.seq, { ws, id });
      })
      // Without an answer the message may be lost: the client reconnects and resumes with `since`.
      .catch(() => this.closeAndLeave(ws, 1011, "the room did not order the message"));
  }

  protected override departed(connection: Connection): void {
    this.presence.endTick();
    this.#waiting.delete(connection.id);
    this.#sequencer()
      .call({ op: "leave", conn: connection.id, user: connection.user })
      .catch(() => {});
  }

  protected override occupied(): boolean {
    return this.members().size > 0;
  }

  protected override cleared(): void {
    this.ctx.storage.sql.exec(SHARD_SCHEMA);
    this.#stream = new ShardStream();
    this.#acks.clear();
    this.#waiting.clear();
  }

  protected override rebuilt(): void {
    // Woken: tell the sequencer who is really here (sockets may have closed while this shard was gone). A shard that
    // never played the stream has nobody to tell about.
    if (this.#streamState().cursor === undefined) return;
    const users: [string, number][] = this.presence.members().map((u) => [u, this.presence.connectionsOf(u)]);
    this.presence.endTick();
    this.#sequencer()
      .call({ op: "sync", users })
      .catch(() => {});
  }

  /** Play a step of the stream: messages and presence to the ready sockets, welcomes to their sockets. */
  #play(step: StreamStep): void {
    const members = this.members();
    for (const item of step.play) {
      if ("seq" in item) {
        for (const [ws, m] of members) if (m.connection.ready) sendText(ws, item.text);
        const ack = this.#acks.get(item.seq);
        if (ack) {
          this.#acks.delete(item.seq);
          send(ack.ws, { type: "ack", id: ack.id, seq: item.seq });
        }
      } else if ("welcome" in item) {
        // A socket accepted before this shard last woke is not in the index: look for it.
        const ws =
          this.#waiting.get(item.welcome) ?? [...members].find(([, m]) => m.connection.id === item.welcome)?.[0];
        const m = ws && members.get(ws);
        this.#waiting.delete(item.welcome);
        if (!ws || !m || m.connection.ready) continue;
        sendText(ws, item.text);
        this.markReady(ws, m);
      } else {
        for (const [ws, m] of members) {
          if (!m.connection.ready) continue;
          const own = item.personal[m.connection.id];
          const text = own === undefined ? item.presence : own;
          if (text !== null) sendText(ws, text);
        }
      }
    }
    const cursor = this.#streamState().cursor;
    if (cursor !== undefined) {
      this.#store("cursor", cursor);
      // Acks of messages the stream skipped (history no longer kept them).
      for (const [seq, ack] of this.#acks) {
        if (seq > cursor) continue;
        this.#acks.delete(seq);
        send(ack.ws, { type: "ack", id: ack.id, seq });
      }
    }
    if (step.fill) void this.#fill(step.fill.after, step.fill.upTo);
  }

  /** Fetch a gap of the stream from the sequencer's history, then play on. */
  async #fill(after: number, upTo: number): Promise<void> {
    const stream = this.#streamState();
    let messages: { seq: number; text: string }[];
    try {
      messages = await this.#room().history(after, upTo);
    } catch {
      stream.unfilled();
      return;
    }
    this.#play(stream.filled(messages, upTo));
  }

  #store(key: string, value: string | number): void {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO shard (key, value) VALUES (?, ?)", key, value);
  }

  #streamState(): ShardStream {
    this.#stream ??= new ShardStream();
    return this.#stream;
  }

  #room() {
    return this.env.ROOM.getByName(this.#place.room);
  }

  /** The pipe of this shard's ops to its sequencer: in order, one call in flight, the rest together in the next. */
  #sequencer(): Pipe<ShardOp, OpResult> {
    this.#pipe ??= new Pipe((ops) => this.#room().apply(this.#place.shard, ops), PIPE_MAX_ITEMS);
    return this.#pipe;
  }
}
