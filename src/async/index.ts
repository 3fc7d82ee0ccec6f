/**
 * The async core, importable as `edgeloop/async`: asyncio's concurrency patterns as runtime-neutral TypeScript (no
 * Cloudflare imports). The fan-out engine and the Durable Objects use it; so can any Worker, Node or browser code.
 *
 * - `settle`, `asCompleted`: asyncio.gather(return_exceptions=True) and as_completed, with a concurrency bound,
 *   per-task timeouts, an overall deadline and a caller's signal.
 * - `prefetch`: a read-ahead buffer: tasks run a few ahead of the consumer, outcomes come in input order.
 * - `Semaphore`: asyncio.Semaphore. `WaitQueue`: a FIFO of parked callers, as asyncio.Lock keeps its waiters.
 * - `retry`: exponential backoff with full jitter, honouring Retry-After and a deadline.
 * - `sleep`, `timer`, `deadline`, `anySignal`, `isAbort`, `isTimeout`: asyncio.sleep and asyncio.timeout over
 *   AbortSignals.
 * - `gcra`, `gcraBatch`: a smooth rate limit kept as one number per key; `gcraRescale` reads it under a new limit.
 * - `Batcher`: group commit: what callers add under one key within a short window is sent as one batch, each caller
 *   answered with its own result.
 */
export { asCompleted } from "./as-completed.js";
export { Batcher, type BatcherOptions, type KeepAlive } from "./batcher.js";
export { anySignal, type Deadline, deadline, isAbort, isTimeout, type Timer, timer } from "./deadline.js";
export { type GcraDecision, type GcraLimits, gcra, gcraBatch, gcraInterval, gcraRescale } from "./gcra.js";
export { type PrefetchOptions, prefetch } from "./prefetch.js";
export { backoffDelay, type RetryOptions, retry } from "./retry.js";
export { Semaphore } from "./semaphore.js";
export { type Settled, type SettleOptions, settle, type Task } from "./settle.js";
export { sleep } from "./sleep.js";
export { WaitQueue, type WaitQueueOptions } from "./wait-queue.js";
