/** What a Durable Object stores, read from inside it (runInDurableObject): for tests of what it keeps and deletes. */
import { runInDurableObject } from "cloudflare:test";

/**
 * The rows the object stores, table by table, 0 for an empty table (the runtime's own `_cf_` tables aside; a schema
 * recreated empty after `deleteAll` shows as zeros).
 *
 * @example
 * expect(await rowsOf(env.JOB.getByName(id))).toEqual({ job: 0, chunks: 0, results: 0, tombstone: 1, owner: 1 });
 */
export const rowsOf = (stub: DurableObjectStub): Promise<Record<string, number>> =>
  runInDurableObject(stub, (_instance: DurableObject, state) => {
    const tables = state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
      )
      .toArray()
      .map((t) => t.name);
    return Object.fromEntries(
      tables.map((t) => [t, state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`).one().n]),
    );
  });
