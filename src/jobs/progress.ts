/**
 * Live progress of a job, published into the room `job:<id>` (of the job's namespace, if it has one) when the Room
 * Durable Object (binding ROOM) exists, and that room forgotten with the job.
 * Without the binding it does nothing, so jobs work on their own. The room marks it `server: true`; it is sent as
 * `jobs`, a name no ticket and no POST …/messages may use (the wire format: src/jobs/protocol.ts).
 */

import { log } from "../http/log";
import { JOBS_SENDER } from "../rooms";
import { type JobItemProgress, type JobProgress, progressRoom } from "./protocol";

export { type JobItemProgress, type JobProgress, progressRoom };

/**
 * At most ~5 progress updates a second per job: how often a Job object publishes its progress, and how often a chunk
 * being run records its finished calls in it (src/jobs/recorder.ts).
 */
export const PROGRESS_INTERVAL_MS = 200;

/** The part of the Room binding this module needs (its RPC `publish` and `forget`). */
interface RoomNamespaceLike {
  getByName(name: string): { publish(from: string, data: unknown): Promise<{ seq: number }>; forget(): Promise<void> };
}

const roomsOf = (env: object): RoomNamespaceLike | undefined => {
  const room = (env as { ROOM?: RoomNamespaceLike }).ROOM;
  return room && typeof room.getByName === "function" ? room : undefined;
};

/** The Room object of a job's progress: `job:<id>`, in the job's namespace if it has one (objectName's spelling). */
const jobRoomName = (id: string, namespace?: string): string =>
  namespace === undefined ? progressRoom(id) : `${namespace}/${progressRoom(id)}`;

/**
 * Publish one progress update (the job's, or its items'); a missing ROOM binding or a failing room (a message over
 * ROOM_MAX_MESSAGE_BYTES) never fails the job.
 *
 * @example
 * await publishProgress(env, { kind: "job-progress", id, state: "running", total: 100, done: 40, failed: 2 })
 */
export async function publishProgress(
  env: object,
  progress: JobProgress | JobItemProgress,
  namespace?: string,
): Promise<boolean> {
  const room = roomsOf(env);
  if (!room) return false;
  try {
    await room.getByName(jobRoomName(progress.id, namespace)).publish(JOBS_SENDER, progress);
    return true;
  } catch {
    return false;
  }
}

/**
 * The job was deleted after its retention: its room goes too (history cleared, watchers closed with 1001). A failing
 * room is logged, never fails the job: its own retention clears it once it is empty.
 *
 * @example
 * await forgetProgressRoom(env, id);
 */
export async function forgetProgressRoom(env: object, id: string, namespace?: string): Promise<void> {
  try {
    await roomsOf(env)?.getByName(jobRoomName(id, namespace)).forget();
  } catch (err) {
    log("warn", "a deleted job's room was not forgotten", { jobId: id, error: String(err) });
  }
}
