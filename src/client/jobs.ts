/**
 * `client.jobs`: durable fan-outs and webhooks on Queues. `create` (idempotent by key; one is made up and returned
 * if not given; now or later, with its retry policy and completion callback), `get`, `cancel`, `retry`; `list()`
 * iterates the caller's jobs newest first and `results(id)` every result of one, across the pages (the cursors stay
 * inside); `watch(id)` yields the job's progress from its room as the service publishes it, ending at the final
 * state; `wait(id)` resolves with the final status. A job deleted after its retention answers 410 (`job-gone`).
 */
import { type JobProgress, type JobState, progressOf } from "../jobs/protocol.js";
import type { Transport } from "./http.js";
import { seg } from "./http.js";
import type { RoomClient } from "./rooms.js";
import type { JobCreated, JobList, JobResult, JobRetried, JobSpec, JobStatus, JobSummary } from "./types.js";

/** The states a job ends in. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(["succeeded", "partial", "failed", "canceled"]);

export interface CreatedJob extends JobCreated {
  /** The Idempotency-Key the job was created with: POST again with it to get the same job. */
  idempotencyKey: string;
  /** True when the key had created this job before (`idempotent-replayed`). */
  replayed: boolean;
}

/** A member of `room` as `user`, whose tickets come through `wrap(ticket)`. */
export type RoomFactory = (
  room: string,
  user: string,
  wrap: (ticket: () => Promise<string>) => Promise<string>,
) => RoomClient;

export interface WatchOptions {
  signal?: AbortSignal;
  /** The name the watcher joins the job's room under (default: `watch-` and a random id). */
  user?: string;
}

export class JobsClient {
  readonly #transport: Transport;
  readonly #room: RoomFactory;

  /** `room` makes the job room's member with the `getTicket` given (createClient's `room`). */
  constructor(transport: Transport, room: RoomFactory) {
    this.#transport = transport;
    this.#room = room;
  }

  /**
   * Create a job (`requests` and options as for fan-out, or a webhook), to start now or at `runAt` / after `delayMs`,
   * with its `retry` policy and a `callback` for its end.
   *
   * @example
   * const job = await client.jobs.create({ type: "fanout", requests: urls.map((url) => ({ url })) });
   * // job.idempotencyKey: keep it to create the same job again after a crash, not a second one
   * await client.jobs.create({ type: "webhook", url, payload, runAt: tomorrow.toISOString(), retry: { attempts: 3 } });
   */
  async create(spec: JobSpec, options: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<CreatedJob> {
    const idempotencyKey = options.idempotencyKey ?? crypto.randomUUID();
    const res = await this.#transport.send("/v1/jobs", {
      json: spec,
      headers: { "idempotency-key": idempotencyKey },
      signal: options.signal,
      idempotent: true, // the key makes a second POST the same job
    });
    const created = (await res.json()) as JobCreated;
    return { ...created, idempotencyKey, replayed: res.headers.get("idempotent-replayed") === "true" };
  }

  /** The job's status and counters. */
  get(id: string, options: { signal?: AbortSignal } = {}): Promise<JobStatus> {
    return this.#transport.json<JobStatus>(`/v1/jobs/${seg(id)}`, options);
  }

  /** Cancel: chunks not yet run are skipped (409 `job-finished` once it has ended). */
  cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<JobStatus> {
    return this.#transport.json<JobStatus>(`/v1/jobs/${seg(id)}`, { method: "DELETE", ...options });
  }

  /** Put the job's dead chunks back on the queue (409 `nothing-to-retry` when none is dead). */
  retry(id: string, options: { signal?: AbortSignal } = {}): Promise<JobRetried> {
    return this.#transport.json<JobRetried>(`/v1/jobs/${seg(id)}/retry`, { method: "POST", ...options });
  }

  /**
   * The caller's jobs, newest first (in one `state` if given), a page at a time (`pageSize` per request, default 100).
   *
   * @example
   * for await (const job of client.jobs.list({ state: "scheduled" })) console.log(job.id, job.runAt);
   */
  async *list(
    options: { state?: JobState; pageSize?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<JobSummary, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.#transport.json<JobList>("/v1/jobs", {
        query: { state: options.state, limit: options.pageSize, cursor },
        signal: options.signal,
      });
      yield* page.items;
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * Every result of the job in request order, a page at a time (`pageSize` per request, default 100).
   *
   * @example
   * for await (const result of client.jobs.results(job.id)) if (!result.ok) console.log(result.index, result.status);
   */
  async *results(
    id: string,
    options: { pageSize?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<JobResult, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.#transport.json<{ items: JobResult[]; next: string | null }>(
        `/v1/jobs/${seg(id)}/results`,
        { query: { limit: options.pageSize, cursor }, signal: options.signal },
      );
      yield* page.items;
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * The job's progress as the service publishes it into room `job:<id>` (a member's look-alike is never taken),
   * ending with the final state. A job that had ended before is answered from its status at once.
   *
   * @example
   * for await (const p of client.jobs.watch(job.id)) bar.value = (p.done + p.failed) / p.total;
   */
  async *watch(id: string, options: WatchOptions = {}): AsyncGenerator<JobProgress, void, undefined> {
    const { signal } = options;
    const queue: JobProgress[] = [];
    let seen = false;
    let failure: { error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const push = (p: JobProgress) => {
      queue.push(p);
      wake?.();
    };
    const fail = (error: unknown) => {
      failure ??= { error };
      wake?.();
    };
    signal?.throwIfAborted();
    // A ticket the service refuses (after the transport's retries) ends the watch: reconnecting would not help.
    const room = this.#room(`job:${id}`, options.user ?? `watch-${crypto.randomUUID().slice(0, 8)}`, (ticket) =>
      ticket().catch((error: unknown) => {
        fail(error);
        throw error;
      }),
    );
    room.on("jobProgress", (p) => {
      if (p.id === id) push(p);
    });
    // Once joined (history delivered): the status, in case the job ended before, or its progress was not published.
    room.on("welcome", () => {
      this.get(id, { signal }).then((status) => {
        if (FINAL_STATES.has(status.state) || (!seen && queue.length === 0)) push(progressOf(status));
      }, fail);
    });
    const onAbort = () => fail(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        for (let p = queue.shift(); p; p = queue.shift()) {
          seen = true;
          yield p;
          if (FINAL_STATES.has(p.state)) return;
        }
        if (failure) throw failure.error;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      room.close();
    }
  }

  /**
   * Wait until the job ends; its final status.
   *
   * @example
   * const status = await client.jobs.wait(job.id, { signal: AbortSignal.timeout(60_000) });
   */
  async wait(id: string, options: WatchOptions = {}): Promise<JobStatus> {
    for await (const _ of this.watch(id, options)) {
      // each progress until the final one
    }
    return this.get(id, options);
  }
}
