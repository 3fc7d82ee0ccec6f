/**
 * The semaphores wing: the Semaphore object (weighted leased permits), its decisions and the wire schemas. Its
 * face to functions/ and to the other wings.
 */
export {
  LEASE_ID_EXAMPLE,
  SemaphoreAcquireBody,
  SemaphoreLease,
  SemaphoreReleaseBody,
  SemaphoreReleased,
  SemaphoreRenewBody,
  SemaphoreRenewed,
  SemaphoreStatus,
} from "./schema";
export { Semaphore, type SemaphoreAcquireResult } from "./semaphore";
