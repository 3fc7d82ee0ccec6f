/**
 * `client.schedules`: cron schedules that create a job at each fire time (`POST /v1/schedules`). `create`, `get` (the
 * next fire times and the last runs with their jobs), `pause`, `resume`, `delete`; `list()` iterates every schedule
 * of the caller across the pages (the cursor stays inside).
 */
import type { Transport } from "./http.js";
import { seg } from "./http.js";
import type { Schedule, ScheduleDeleted, ScheduleSpec, ScheduleSummary } from "./types.js";

export class SchedulesClient {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /**
   * Create a schedule (the same definition again answers the existing one; another one under its name is a 409
   * `schedule-exists`).
   *
   * @example
   * await client.schedules.create({
   *   name: "nightly-sync",
   *   cron: "30 2 * * *",
   *   timezone: "Europe/Berlin",
   *   job: { type: "fanout", requests: [{ url: "https://api.example.com/sync" }] },
   * });
   */
  create(spec: ScheduleSpec, options: { signal?: AbortSignal } = {}): Promise<Schedule> {
    return this.#transport.json<Schedule>("/v1/schedules", { json: spec, signal: options.signal });
  }

  /** The schedule: its definition, its `next` fire times (default 5) and its last runs with their jobs' states. */
  get(name: string, options: { next?: number; signal?: AbortSignal } = {}): Promise<Schedule> {
    return this.#transport.json<Schedule>(`/v1/schedules/${seg(name)}`, {
      query: { next: options.next },
      signal: options.signal,
    });
  }

  /**
   * Every schedule of the caller, in name order, a page at a time (`pageSize` per request, default 50).
   *
   * @example
   * for await (const s of client.schedules.list()) console.log(s.name, s.nextRunAt);
   */
  async *list(
    options: { pageSize?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<ScheduleSummary, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.#transport.json<{ items: ScheduleSummary[]; next: string | null }>("/v1/schedules", {
        query: { limit: options.pageSize, cursor },
        signal: options.signal,
      });
      yield* page.items;
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
  }

  /** Stop creating jobs until `resume`. */
  pause(name: string, options: { signal?: AbortSignal } = {}): Promise<ScheduleSummary> {
    return this.#transport.json<ScheduleSummary>(`/v1/schedules/${seg(name)}/pause`, { method: "POST", ...options });
  }

  /** Create jobs again from the first fire time after now. */
  resume(name: string, options: { signal?: AbortSignal } = {}): Promise<ScheduleSummary> {
    return this.#transport.json<ScheduleSummary>(`/v1/schedules/${seg(name)}/resume`, { method: "POST", ...options });
  }

  /** Delete the schedule (the jobs it created stay). */
  delete(name: string, options: { signal?: AbortSignal } = {}): Promise<ScheduleDeleted> {
    return this.#transport.json<ScheduleDeleted>(`/v1/schedules/${seg(name)}`, { method: "DELETE", ...options });
  }
}
