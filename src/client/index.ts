/**
 * The typed client, importable as `edgeloop/client`, for Node ≥ 20 and browsers: `createClient` for every family
 * (fan-out, pages, locks, semaphores, counters, rate limits, jobs, schedules, flow keys, rooms), the errors it throws, the wire types (taken from
 * the server's own schemas), and `RoomClient` for rooms on its own.
 *
 * A Worker that binds edgeloop's `Edgeloop` entrypoint calls it without the network: `createClient({ binding })`, or
 * the binding's RPC methods themselves (`EdgeloopRpc`, with `fromRpcError` for their refusals).
 *
 * @example
 * import { createClient } from "edgeloop/client";
 * const client = createClient({ baseUrl: "http://127.0.0.1:8787", token });
 * const { results } = await client.fanout([{ url: "https://example.com/" }]);
 * await using lease = await client.lock("orders").acquire({ ttlMs: 10_000 });
 * await client.counter("orders").increment(1, { fence: lease });
 */

export type { ServiceAnswer, ServiceContext, ServiceItem, ServiceTarget } from "../jobs/protocol.js";
export { type ClientOptions, createClient, type EdgeloopClient } from "./client.js";
export { CounterClient, type FenceLike } from "./counters.js";
export { EdgeloopError, LeaseLostError } from "./errors.js";
export type {
  Fanout,
  FanoutAnswer,
  FanoutCallOptions,
  FanoutRequests,
  FanoutResults,
  FanoutStream,
} from "./fanout.js";
export { FlowClient } from "./flow.js";
export type { BindingLike, RetryPolicy } from "./http.js";
export { type CreatedJob, FINAL_STATES, JobsClient, type WatchOptions } from "./jobs.js";
export { Lease } from "./lease.js";
export { type LockAcquireOptions, LockClient, LockLease } from "./locks.js";
export { SummarizedStream } from "./ndjson.js";
export type { PageStream, Pages } from "./pages.js";
export { RateLimitClient, type RateLimitOptions } from "./ratelimits.js";
export {
  type AckFrame,
  type ErrorFrame,
  type JobProgress,
  jobProgressOf,
  type PollAction,
  type PollState,
  type PollWelcome,
  type PresenceChange,
  type PresenceFrame,
  pollOf,
  RoomClient,
  type RoomClientOptions,
  type RoomEvents,
  type RoomMessage,
  type WelcomeFrame,
} from "./rooms.js";
export { type EdgeloopRpc, fromRpcError, rpc } from "./rpc.js";
export { SchedulesClient } from "./schedules.js";
export { type SemaphoreAcquireOptions, SemaphoreClient, SemaphoreLease } from "./semaphores.js";
export { TokensClient } from "./tokens.js";
export type * from "./types.js";
