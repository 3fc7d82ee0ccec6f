/**
 * The rooms wire protocol: the JSON frames a room and its clients exchange, and the parser that turns a raw
 * client frame into a checked one (or says why it is refused). Shared by the Room object and the client; no
 * platform imports.
 *
 * Server → client: `welcome`, `message`, `presence` (coalesced: who joined and left since the last one), `ack`, `error`
 * (and `pong`, sent by the runtime).
 * Client → server: `message {data, id?}`, `ping`. A message's `server` flag, set by the room, tells what the service
 * published from what a member sent; the names it publishes under are reserved (no ticket carries them).
 * A room of a kind (docs/rooms.md, "Room kinds") may add a `reply` to the welcome and the ack; the poll's frames are
 * `PollState` (published), `PollWelcome` (the welcome's reply) and `PollAction` (what members send).
 */

/** A message as every member receives it; `seq` strictly increases per room. */
export interface RoomMessage {
  type: "message";
  seq: number;
  id: string;
  /** The member's ticket user, or the name the service published under (`server`, `jobs`, a bearer caller's `from`). */
  from: string;
  /**
   * True when the service published it (POST /v1/rooms/:room/messages with the API token, a job's progress), false
   * for a member's message. Set by the room, never taken from a frame: the only proof of who sent a message.
   */
  server: boolean;
  data: unknown;
  /** Milliseconds since the epoch when the room ordered it. */
  ts: number;
}

export interface WelcomeFrame {
  type: "welcome";
  self: { user: string; id: string };
  /** Distinct users present, sorted, including `self`. */
  members: string[];
  count: number;
  lastSeq: number;
  /** The last ROOM_HISTORY messages, or those after `since` when the client sent one. */
  history: RoomMessage[];
  /** A room kind's answer to this member only (a poll room: `PollWelcome`); absent in a chat room. */
  reply?: unknown;
}

/**
 * Who joined and who left since the last presence frame (distinct users, sorted; a user with several connections joins
 * with the first and leaves with the last), sent at most once per ROOM_PRESENCE_TICK_MS. A member keeps the list
 * from its welcome's `members` up to date with these.
 */
export interface PresenceFrame {
  type: "presence";
  joined: string[];
  left: string[];
  /** Distinct users present after these changes. */
  count: number;
}

/**
 * The presence frame of rooms before presence was coalesced: one per change, with every member listed. Clients
 * still read it, as a PresenceFrame of one change.
 */
export interface PresenceEventFrame {
  type: "presence";
  event: "joined" | "left";
  user: string;
  count: number;
  members: string[];
}

export interface AckFrame {
  type: "ack";
  id: string;
  /**
   * The message's seq; in a room whose kind did not send it out in the member's name, the seq of the first message
   * the service published for it, or 0 when nothing was ordered (the kind answered the sender only).
   */
  seq: number;
  /** A room kind's answer to the sender only (a poll's vote: `{voted}`). */
  reply?: unknown;
}

export interface ErrorFrame {
  type: "error";
  /**
   * `rate-limited`, `bad-message`; in a room of a kind: the kind's refusal (`already-voted`…), `kind-failed` (its
   * hook threw: nothing was applied) or `kind-state-full` (ROOM_KIND_STATE_BYTES).
   */
  code: string;
  /** The HTTP status the refusal stands for, when it is not 429 (`rate-limited`) or 400. */
  status?: number;
  message: string;
  /** The `id` of the frame it refuses, when that frame carried a well-formed one (so a client knows which send). */
  id?: string;
}

export type ServerFrame = WelcomeFrame | RoomMessage | PresenceFrame | AckFrame | ErrorFrame | { type: "pong" };

export type ClientFrame = { type: "message"; data: unknown; id?: string } | { type: "ping" };

/** The sender name of what the service publishes when the caller names none (POST …/messages without `from`). */
export const SERVER_SENDER = "server";
/** The sender name of a job's progress: only the jobs family publishes under it (POST …/messages refuses it). */
export const JOBS_SENDER = "jobs";

/** A name as compared for reservation: NFKC, trimmed, lower case (so "ＪＯＢＳ " is "jobs"). */
export const nameKey = (name: string): string => name.normalize("NFKC").trim().toLowerCase();

/**
 * Names no ticket may carry, so that no member even looks like the service (the `server` flag is what proves it).
 *
 * @example
 * isReservedName("Jobs") // true; isReservedName("ada") // false
 */
export const isReservedName = (name: string): boolean => {
  const key = nameKey(name);
  return key === SERVER_SENDER || key === JOBS_SENDER;
};

/** A variation selector after an emoji, a zero-width joiner between pictographs: the invisible parts of emoji. */
const EMOJI_JOINS =
  /(?<=\p{Emoji})\uFE0F|(?<=\p{Extended_Pictographic}|\p{Emoji_Modifier}|\uFE0F)\u200D(?=\p{Extended_Pictographic})/gu;
/** Format characters (zero-width, bidi controls, soft hyphen), default-ignorables (fillers, variation selectors), blank look-alikes, spaces but U+0020. */
const INVISIBLE = /[\p{Cf}\p{DI}\p{Zl}\p{Zp}\u2800]|(?! )\p{Zs}/u;
/** Unicode's recommended scripts (UTS #31), each a group; `x`: a letter of any other script. */
const SCRIPT = new RegExp(
  `${"Latn Grek Cyrl Armn Hebr Arab Thaa Deva Beng Guru Gujr Orya Taml Telu Knda Mlym Sinh Thai Laoo Tibt Mymr Geor Hang Ethi Khmr Hani Hira Kana Bopo"
    .split(" ")
    .map((s) => `(?<${s}>\\p{sc=${s}})`)
    .join("|")}|(?<x>[^\\p{sc=Zyyy}\\p{sc=Zinh}])`,
  "gu",
);
/** The script sets one name may mix (UTS #39, "highly restrictive"): Japanese, Chinese, Korean with Latin. */
const MIXES = ["Latn Hani Hira Kana", "Latn Hani Bopo", "Latn Hani Hang"].map((mix) => mix.split(" "));

/**
 * Why a user name could pass for another, or undefined: an invisible character (emoji aside), a compatibility form
 * (fullwidth, mathematical letters: NFKC would change it), or letters of scripts that do not go together (one script,
 * or Latin with Han and kana, bopomofo or Hangul; Common and Inherited characters go with any).
 *
 * @example
 * nameRefusal("\u0455erver") // "mixes letters of scripts that do not go together (Cyrl, Latn)"
 * nameRefusal("Zoë") // undefined
 */
export function nameRefusal(name: string): string | undefined {
  if (INVISIBLE.test(name.replace(EMOJI_JOINS, ""))) {
    return "contains an invisible character (zero-width, bidi control, soft hyphen, filler, or a space but U+0020)";
  }
  if (name.normalize("NFC") !== name.normalize("NFKC")) {
    return "contains a compatibility form (fullwidth, mathematical or other styled letters): send its NFKC form";
  }
  const used = new Set<string>();
  for (const m of name.matchAll(SCRIPT)) {
    for (const [script, found] of Object.entries(m.groups ?? {})) if (found) used.add(script);
  }
  const scripts = [...used].sort();
  if (scripts.length < 2 || MIXES.some((mix) => scripts.every((s) => mix.includes(s)))) return undefined;
  return `mixes letters of scripts that do not go together (${scripts.join(", ")})`;
}

/** What a poll room (`poll:…`, `demo-poll:…`) publishes after each change, with `server: true`. */
export interface PollState {
  kind: "poll";
  /** 1 for the room's first poll, one more for each poll opened after. */
  round: number;
  question: string;
  options: string[];
  /** Votes per option, in the order of `options`. */
  tallies: number[];
  owner: string;
  /** Who may join and vote, when the owner named them. */
  voters?: string[];
  closed: boolean;
}

/** The `reply` of a poll room's welcome: its poll (null before the first) and this member's vote in it. */
export interface PollWelcome {
  poll: PollState | null;
  voted?: number;
}

/**
 * What a member sends into a poll room: a chat line, a new poll (question, 2-10 options, optionally who may vote),
 * a vote (the option's index, once per user and poll), or closing it (its owner, or anyone once the owner left).
 */
export type PollAction =
  | { text: string }
  | { open: { question: string; options: string[]; voters?: string[] } }
  | { vote: number }
  | { close: true };

/**
 * The poll a room message carries, if the service published it (`server: true`): a member's message shaped like a
 * poll is undefined, whatever it claims.
 *
 * @example
 * room.on("message", (m) => {
 *   const poll = pollOf(m);
 *   if (poll) draw(poll.options, poll.tallies);
 * });
 */
export function pollOf(message: RoomMessage): PollState | undefined {
  const data = message.data as Partial<PollState> | null;
  if (message.server !== true || data?.kind !== "poll" || !Array.isArray(data.tallies)) return undefined;
  return data as PollState;
}

/** The exact ping frame the runtime answers with PONG_FRAME without waking the object. */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

/** WebSocket close codes the room uses. */
export const CLOSE = {
  /** RFC 6455: unsupported data (binary frames). */
  unsupported: 1003,
  /** RFC 6455: policy violation (rate limit exceeded after a warning). */
  policy: 1008,
  /** RFC 6455: message too big (over ROOM_MAX_MESSAGE_BYTES). */
  tooBig: 1009,
} as const;

/**
 * A join refused to a client that asked for it with `?refusal=close` closes with 4000 + the HTTP status of the
 * refusal (4401 `ticket-used`, 4403 `origin-not-allowed`, 4429 `room-full`…) and `<problem slug> <detail>` as its
 * reason, cut to this many bytes (RFC 6455: a close frame's reason is at most 123 bytes).
 */
export const REFUSAL_CLOSE_BASE = 4000;
export const CLOSE_REASON_MAX_BYTES = 123;

const MAX_ID_LENGTH = 64;

export type ParsedFrame =
  | { ok: true; frame: ClientFrame }
  | { ok: false; close: { code: number; reason: string } }
  | { ok: false; error: ErrorFrame };

const encoder = new TextEncoder();

/** Size of a frame in bytes, as it travelled (UTF-8 for text). */
export function frameBytes(raw: string | ArrayBuffer): number {
  return typeof raw === "string" ? encoder.encode(raw).byteLength : raw.byteLength;
}

/**
 * Parse one client frame, enforcing the size limit before anything else.
 *
 * @example
 * const parsed = parseClientFrame('{"type":"message","data":"hi"}', 16_384);
 * if (parsed.ok) parsed.frame; // { type: "message", data: "hi" }
 */
export function parseClientFrame(raw: string | ArrayBuffer, maxBytes: number): ParsedFrame {
  // Each UTF-16 code unit is at most 3 UTF-8 bytes: most frames are under the limit without being encoded.
  const bytes = typeof raw === "string" && raw.length * 3 <= maxBytes ? 0 : frameBytes(raw);
  if (bytes > maxBytes) {
    return {
      ok: false,
      close: { code: CLOSE.tooBig, reason: `message larger than ROOM_MAX_MESSAGE_BYTES (${maxBytes} bytes)` },
    };
  }
  if (typeof raw !== "string") {
    return { ok: false, close: { code: CLOSE.unsupported, reason: "binary frames are not supported: send JSON text" } };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return badMessage("the frame is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return badMessage('the frame must be a JSON object with a "type"');
  }
  const frame = value as Record<string, unknown>;
  if (frame.type === "ping") return { ok: true, frame: { type: "ping" } };
  const id = frame.id;
  if (id !== undefined && !isFrameId(id)) return badMessage(`"id" must be a string of 1-${MAX_ID_LENGTH} characters`);
  if (frame.type !== "message") return badMessage('"type" must be "message" or "ping"', id);
  if (!("data" in frame) || frame.data === undefined) return badMessage('a message needs "data"', id);
  return {
    ok: true,
    frame: id === undefined ? { type: "message", data: frame.data } : { type: "message", data: frame.data, id },
  };
}

const isFrameId = (id: unknown): id is string => typeof id === "string" && id.length > 0 && id.length <= MAX_ID_LENGTH;

/**
 * The `id` of a raw client frame, if it is JSON with a well-formed one: what the error frame refusing it carries.
 *
 * @example
 * frameIdOf('{"type":"message","data":1,"id":"m1"}') // "m1"
 */
export function frameIdOf(raw: string | ArrayBuffer): string | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const id = (JSON.parse(raw) as { id?: unknown } | null)?.id;
    return isFrameId(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

function badMessage(message: string, id?: string): ParsedFrame {
  return { ok: false, error: { type: "error", code: "bad-message", message, ...(id === undefined ? {} : { id }) } };
}
