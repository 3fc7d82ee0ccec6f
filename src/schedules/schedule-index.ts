/**
 * ScheduleIndex: one Durable Object per owner, holding the names of its schedules. It is what counts them against
 * SCHEDULES_MAX_PER_CALLER (one object, one thread: two creates cannot both take the last place) and what lists them.
 * Only Schedule objects write to it: a schedule is added before it goes live and removed before its storage is
 * deleted (schedule.ts retries both until the index answers). An index left with no name deletes its storage.
 */
import { DurableObject } from "cloudflare:workers";

export type AddOutcome = "added" | "present" | "full";

export class ScheduleIndex extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#createSchema();
  }

  #createSchema(): void {
    this.#sql.exec("CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, added_at INTEGER NOT NULL)");
  }

  /** Add `name` unless the owner already has `max` schedules ("full"); a name already there is "present". */
  add(name: string, max: number): AddOutcome {
    if (this.#sql.exec("SELECT 1 FROM names WHERE name = ?", name).toArray().length > 0) return "present";
    if (this.count() >= max) return "full";
    this.#sql.exec("INSERT INTO names (name, added_at) VALUES (?, ?)", name, Date.now());
    return "added";
  }

  async remove(name: string): Promise<void> {
    this.#sql.exec("DELETE FROM names WHERE name = ?", name);
    if (this.count() === 0) {
      await this.ctx.storage.deleteAll();
      this.#createSchema();
    }
  }

  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM names").one().n;
  }

  /** Up to `limit` names after `after`, in name order; `next` is the last one when more follow. */
  page(after: string, limit: number): { names: string[]; next: string | null } {
    const names = this.#sql
      .exec<{ name: string }>("SELECT name FROM names WHERE name > ? ORDER BY name LIMIT ?", after, limit + 1)
      .toArray()
      .map((r) => r.name);
    return names.length > limit
      ? { names: names.slice(0, limit), next: names[limit - 1] ?? null }
      : { names, next: null };
  }
}
