/**
 * The async core: asyncio's concurrency patterns as runtime-neutral TypeScript (no Cloudflare imports), used by
 * the fan-out engine and the Durable Objects.
 */
export { asCompleted } from "./as-completed";
export {
  abortError,
  anySignal,
  type Deadline,
  deadline,
  deadlineAt,
  isAbort,
  isTimeout,
  type Timer,
  timeoutError,
  timer,
} from "./deadline";
export { backoffDelay, type RetryOptions, retry, retryAfterOf } from "./retry";
export { Semaphore } from "./semaphore";
export { type Schedule, type Settled, type SettleOptions, schedule, settle, type Task } from "./settle";
export { type Sleep, sleep } from "./sleep";
