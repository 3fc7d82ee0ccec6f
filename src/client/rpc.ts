/**
 * edgeloop over Workers RPC, for a Worker that binds its `Edgeloop` entrypoint (docs/binding.md): `EdgeloopRpc`, the
 * types of the RPC methods (each is one HTTP operation: the same inputs and JSON answers), and `fromRpcError`, which
 * turns what an RPC method threw back into the `EdgeloopError` the HTTP client would have thrown (RPC keeps only an
 * error's message: the problem travels in it). A Worker that wants the client's own objects instead (leases that
 * renew themselves with `await using`, streams as async iterables) uses `createClient({ binding: env.EDGELOOP })`.
 */
import { problemOfRpc } from "../binding/protocol.js";
import { EdgeloopError } from "./errors.js";
import type {
  CounterShards,
  CounterValue,
  FanoutOptions,
  FanoutRequest,
  FanoutResult,
  FanoutSummary,
  Fence,
  FlowStatus,
  JobCreated,
  JobList,
  JobResultsPage,
  JobRetried,
  JobSpec,
  JobState,
  JobStatus,
  LockGrant,
  LockStatus,
  Page,
  PagesSpec,
  PagesSummary,
  RateLimitDecision,
  Schedule,
  ScheduleDeleted,
  ScheduleSpec,
  ScheduleSummary,
  SemaphoreGrant,
  SemaphoreStatus,
} from "./types.js";

/**
 * The `EdgeloopError` an RPC method's error stands for, or the error itself when it is not a refusal of the service
 * (the binding failed, a bug).
 *
 * @example
 * try {
 *   await env.EDGELOOP.lock("orders").acquire({ ttlMs: 10_000 });
 * } catch (err) {
 *   const error = fromRpcError(err);
 *   if (error instanceof EdgeloopError && error.type === "urn:edgeloop:problem:lock-held") return busy();
 *   throw error;
 * }
 */
export function fromRpcError(err: unknown): unknown {
  const refusal = err instanceof Error ? problemOfRpc(err.message) : undefined;
  if (!refusal) return err;
  const { problem, retryAfterMs, requestId } = refusal;
  return new EdgeloopError(problem, { retryAfterMs, requestId });
}

/**
 * Await an RPC call; a refusal rejects as its `EdgeloopError`.
 *
 * @example
 * const { value } = await rpc(env.EDGELOOP.counter("orders").increment(1));
 */
export async function rpc<T>(call: PromiseLike<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw fromRpcError(err);
  }
}

/** A lock grant or a semaphore grant, as renew and release take it back. */
type GrantOf<G> = Pick<G, Extract<keyof G, "owner" | "token" | "leaseId" | "holder">>;

/** The RPC methods of the `Edgeloop` entrypoint: type the binding as `Fetcher & EdgeloopRpc`. */
export interface EdgeloopRpc {
  fanout(
    requests: readonly FanoutRequest[] | Readonly<Record<string, FanoutRequest>>,
    options?: FanoutOptions,
  ): Promise<{ results: FanoutResult[] | Record<string, FanoutResult>; summary: FanoutSummary }>;
  /** NDJSON: a `FanoutResult` a line as each settles, then `{ "summary": … }`. */
  fanoutStream(
    requests: readonly FanoutRequest[] | Readonly<Record<string, FanoutRequest>>,
    options?: FanoutOptions,
  ): Promise<ReadableStream<Uint8Array>>;
  pages(spec: PagesSpec): Promise<{ pages: Page[]; summary: PagesSummary }>;
  /** NDJSON: a `Page` a line in page order, then `{ "summary": … }`. */
  pagesStream(spec: PagesSpec): Promise<ReadableStream<Uint8Array>>;
  counter(name: string): {
    get(fence?: Fence): Promise<CounterValue>;
    increment(by?: number, options?: { min?: number; max?: number; fence?: Fence }): Promise<CounterValue>;
    set(value: number, options?: { ifValue?: number; fence?: Fence }): Promise<CounterValue>;
    setShards(shards: number): Promise<CounterShards>;
    reset(): Promise<CounterValue>;
  };
  lock(name: string): {
    acquire(options?: { owner?: string; ttlMs?: number; waitMs?: number }): Promise<LockGrant>;
    renew(grant: GrantOf<LockGrant>, ttlMs?: number): Promise<{ name: string; token: number; expiresAt: number }>;
    release(grant: GrantOf<LockGrant>): Promise<{ name: string; released: boolean; releasedAt: number }>;
    status(): Promise<LockStatus>;
  };
  semaphore(
    name: string,
    options: { limit: number },
  ): {
    acquire(options?: { holder?: string; permits?: number; ttlMs?: number; waitMs?: number }): Promise<SemaphoreGrant>;
    renew(
      grant: GrantOf<SemaphoreGrant>,
      ttlMs?: number,
    ): Promise<{ name: string; leaseId: string; expiresAt: number }>;
    release(
      grant: GrantOf<SemaphoreGrant>,
    ): Promise<{ name: string; leaseId: string; released: boolean; releasedAt: number }>;
    status(): Promise<SemaphoreStatus>;
  };
  rateLimit(
    key: string,
    options: { limit: number; periodMs: number; burst?: number },
  ): {
    take(cost?: number): Promise<RateLimitDecision>;
  };
  jobs(): {
    create(
      spec: JobSpec,
      options?: { idempotencyKey?: string },
    ): Promise<JobCreated & { idempotencyKey: string; replayed: boolean }>;
    get(id: string): Promise<JobStatus>;
    list(options?: { state?: JobState; limit?: number; cursor?: string }): Promise<JobList>;
    results(id: string, options?: { limit?: number; cursor?: string }): Promise<JobResultsPage>;
    cancel(id: string): Promise<JobStatus>;
    retry(id: string): Promise<JobRetried>;
  };
  schedules(): {
    create(spec: ScheduleSpec): Promise<Schedule>;
    get(name: string, options?: { next?: number }): Promise<Schedule>;
    list(options?: { limit?: number; cursor?: string }): Promise<{ items: ScheduleSummary[]; next: string | null }>;
    pause(name: string): Promise<ScheduleSummary>;
    resume(name: string): Promise<ScheduleSummary>;
    delete(name: string): Promise<ScheduleDeleted>;
  };
  flow(key: string): {
    get(): Promise<FlowStatus>;
    pause(): Promise<FlowStatus>;
    resume(): Promise<FlowStatus>;
  };
  room(name: string): {
    /** `url` is on `origin` (the service's public URL) when given. */
    ticket(
      user: string,
      options?: { ttlSec?: number; origin?: string },
    ): Promise<{ ticket: string; url: string; room: string; user: string; expiresAt: string }>;
    publish(data: unknown, options?: { from?: string }): Promise<{ seq: number }>;
    /** Members, connections and the last seq (sharded rooms: their shards too). */
    info(): Promise<{ room: string; members: string[]; count: number; connections: number; lastSeq: number }>;
    setShards(shards: number): Promise<{ room: string; shards: number }>;
  };
}
