/** Time travel for lease tests: make leases look expired (as if their TTL had passed) without waiting for it. */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";

export async function rewindLease(name: string): Promise<void> {
  await runInDurableObject(env.LOCK.getByName(name), (_, state) => {
    state.storage.sql.exec("UPDATE lock SET expires_at = ?", Date.now() - 1);
  });
}

/** Expire the semaphore leases of `holder` (all of them without one). */
export async function rewindSemaphoreLeases(name: string, holder?: string): Promise<void> {
  await runInDurableObject(env.SEMAPHORE.getByName(name), (_, state) => {
    if (holder) state.storage.sql.exec("UPDATE lease SET expires_at = ? WHERE holder = ?", Date.now() - 1, holder);
    else state.storage.sql.exec("UPDATE lease SET expires_at = ?", Date.now() - 1);
  });
}
