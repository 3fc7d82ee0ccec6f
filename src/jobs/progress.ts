/**
 * Live progress of a job, published into the room `job:<id>` (of the job's namespace, if it has one) when the Room
 * Durable Object (binding ROOM) exists.
 * Without the binding it does nothing, so jobs work on their own. The room marks it `server: true`; it is sent as
 * `jobs`, a name no ticket and no POST …/messages may use (the wire format: src/jobs/protocol.ts).
 */

import { JOBS_SENDER } from "../rooms";
import { type JobProgress, progressRoom } from "./protocol";

export { type JobProgress, progressRoom };

/** The part of the Room binding this module needs (its RPC `publish`). */
interface RoomNamespaceLike {
  getByName(name: string): { publish(from: string, data: unknown): Promise<{ seq: number }> };
}

/**
 * Publish one progress update; a missing ROOM binding or a failing room never fails the job.
 *
 * @example
 * await publishProgress(env, { kind: "job-progress", id, state: "running", total: 100, done: 40, failed: 2 })
 */
export async function publishProgress(env: object, progress: JobProgress, namespace?: string): Promise<boolean> {
  const room = (env as { ROOM?: RoomNamespaceLike }).ROOM;
  if (!room || typeof room.getByName !== "function") return false;
  const name = progressRoom(progress.id);
  try {
    // A job of a namespace reports into that namespace's room (objectName's spelling).
    await room.getByName(namespace === undefined ? name : `${namespace}/${name}`).publish(JOBS_SENDER, progress);
    return true;
  } catch {
    return false;
  }
}
