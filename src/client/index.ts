/**
 * The typed client, importable as `edgeloop/client`: today the rooms client (`RoomClient` and the frames it
 * delivers); the clients of the other families will live here too.
 *
 * @example
 * import { RoomClient } from "edgeloop/client";
 * const lobby = new RoomClient({ baseUrl: "http://127.0.0.1:8787", room: "lobby", user: "ada", token });
 * lobby.on("message", (m) => console.log(m.seq, m.from, m.data));
 */
export {
  type AckFrame,
  type ErrorFrame,
  type JobProgress,
  jobProgressOf,
  type PresenceChange,
  type PresenceFrame,
  RoomClient,
  type RoomClientOptions,
  type RoomEvents,
  type RoomMessage,
  type WelcomeFrame,
} from "./rooms.js";
