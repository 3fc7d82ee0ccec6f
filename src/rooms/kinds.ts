/**
 * The registry of room kinds: which kind a room is, by its name. The first pattern that matches wins; a room no
 * pattern matches is a chat room (no hooks: every message broadcast as sent), as every room was before kinds. To add
 * a kind, write its hooks (`kind.ts`; the poll in `poll.ts` is the example) and add a line here (docs/rooms.md, "Room
 * kinds"). A room's kind follows from its name alone, so every object and the Worker agree on it without a call.
 * No platform imports.
 */
import type { RoomKind } from "./kind";
import { poll } from "./poll";

/** The default kind: today's chat room. */
export const chat: RoomKind = { name: "chat" };

/** Name patterns and their kinds, in order. Room names are `^[A-Za-z0-9._:-]{1,128}$`. */
export const ROOM_KINDS: readonly { pattern: RegExp; kind: RoomKind }[] = [
  // `demo-poll:…` too, so that the demo page (which reaches only `demo-…` rooms) has polls.
  { pattern: /^(?:demo-)?poll:/, kind: poll },
];

/**
 * The room's own name in its object's name: a room of a namespace is the object `<namespace>/<room>` (`/` never
 * occurs in a room name), and its kind is its name's, whatever the namespace.
 *
 * @example
 * roomOf("acme/poll:lunch"); // "poll:lunch"
 */
export const roomOf = (objectName: string): string => objectName.slice(objectName.lastIndexOf("/") + 1);

/**
 * The kind of room `room` (a room name, or the name of its object).
 *
 * @example
 * kindOf("poll:lunch").name; // "poll"
 * kindOf("lobby").name; // "chat"
 */
export const kindOf = (room: string): RoomKind => {
  const name = roomOf(room);
  return ROOM_KINDS.find((k) => k.pattern.test(name))?.kind ?? chat;
};
