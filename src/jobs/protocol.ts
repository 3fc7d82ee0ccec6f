/**
 * A job's progress as the service publishes it into the room `job:<id>`: the data of a message with `server: true`
 * from `jobs`. `jobProgressOf` is how a client reads it, trusting nothing a member could have sent.
 */
import { JOBS_SENDER, type RoomMessage } from "../rooms/protocol.js";

export type JobState = "scheduled" | "queued" | "running" | "succeeded" | "partial" | "failed" | "canceled";

const STATES: ReadonlySet<string> = new Set<JobState>([
  "scheduled",
  "queued",
  "running",
  "succeeded",
  "partial",
  "failed",
  "canceled",
]);

export interface JobProgress {
  kind: "job-progress";
  id: string;
  state: JobState;
  total: number;
  done: number;
  failed: number;
}

/**
 * What the handlers of a chunk reported of their items (`ctx.progress`), as published into the job's room: the latest
 * data of each item that reported since the last update, throttled as the job's progress is.
 */
export interface JobItemProgress {
  kind: "job-item-progress";
  id: string;
  items: { index: number; data: unknown }[];
}

/**
 * The progress a job's status stands for (what the Job object publishes, and what a client reports for a status it
 * read).
 *
 * @example
 * publish(progressOf(status)); // {kind: "job-progress", id, state, total, done, failed}
 */
export const progressOf = (s: Omit<JobProgress, "kind">): JobProgress => ({
  kind: "job-progress",
  id: s.id,
  state: s.state,
  total: s.total,
  done: s.done,
  failed: s.failed,
});

/** The room a job's progress goes to. */
export const progressRoom = (jobId: string): string => `job:${jobId}`;

const count = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/**
 * The job progress a room message carries, if the service published it: `server: true`, from `jobs`, a
 * well-formed `job-progress`. Anything else — a member's message shaped like progress included — is undefined.
 *
 * @example
 * room.on("message", (m) => {
 *   const progress = jobProgressOf(m);
 *   if (progress) bar.value = progress.done + progress.failed;
 * });
 */
export function jobProgressOf(message: RoomMessage): JobProgress | undefined {
  if (message.server !== true || message.from !== JOBS_SENDER) return undefined;
  const d = message.data as Partial<Record<keyof JobProgress, unknown>> | null;
  if (typeof d !== "object" || d === null || d.kind !== "job-progress" || typeof d.id !== "string") return undefined;
  if (typeof d.state !== "string" || !STATES.has(d.state)) return undefined;
  if (!count(d.total) || !count(d.done) || !count(d.failed)) return undefined;
  return { kind: "job-progress", id: d.id, state: d.state as JobState, total: d.total, done: d.done, failed: d.failed };
}

/*
 * The contract of a `service` job's Worker (docs/jobs.md, "Service jobs"): what its entrypoint's `handle(items, ctx)`
 * gets and answers. Plain types, so a user's Worker can take them from the client package.
 */

/** One item as the Worker's `handle` gets it. */
export interface ServiceItem {
  index: number;
  /** `<job id>:<index>`: the same on every delivery of the item. */
  key: string;
  /** The item as the job was posted with it. */
  data: unknown;
}

/** The Worker's answer for one item (by its index). */
export interface ServiceAnswer {
  index: number;
  /** The item's result (any JSON), recorded as `{index, ok: true, value}`. */
  value?: unknown;
  /** The item failed: recorded as `{index, ok: false, error: {kind: "handler", message}}`, unless `retry`. */
  error?: string;
  /** With `error`: another delivery may succeed; the item is retried as the job's `retry` says. */
  retry?: boolean;
}

/** What `handle` gets besides the items (functions arrive as RPC stubs, callable until `handle` returns). */
export interface ServiceContext {
  jobId: string;
  chunk: number;
  /** This delivery of the chunk: 1 the first time. */
  attempt: number;
  /** When the call stops being waited for (ms since the epoch): answers after it are not recorded. */
  deadline: number;
  /** Record answers now, before `handle` returns. */
  report(answers: ServiceAnswer[]): Promise<void>;
  /** An item's progress (any JSON), into the job's room. */
  progress(index: number, data: unknown): void;
}

/** The bound Worker's entrypoint, as the `service` type calls it: implement it on your WorkerEntrypoint. */
export interface ServiceTarget {
  handle(items: ServiceItem[], ctx: ServiceContext): Promise<ServiceAnswer[] | undefined | null>;
}
