/**
 * The rooms wing: the Room object (or a sharded room's sequencer) and its RoomShards, their decisions, the wire
 * protocol, tickets and the wire schemas. Its face to functions/ and to the other wings.
 */
export { JOBS_SENDER, nameKey, SERVER_SENDER } from "./protocol";
export { refusedSocket } from "./refusal";
export { Room } from "./room";
export { ROOM_SHARDS_HEADER, RoomShard } from "./room-shard";
export {
  ROOM_JOIN_LIMIT_HEADER,
  ROOM_JOIN_PERIOD_HEADER,
  ROOM_TICKET_EXP_HEADER,
  ROOM_TICKET_ID_HEADER,
  ROOM_USER_HEADER,
} from "./room-sockets";
export { shardName, shardOf } from "./room-stream";
export { MemberName, TicketRequest, UserName } from "./schema";
export { signTicket, verifyTicket } from "./tickets";
