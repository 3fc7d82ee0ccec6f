/**
 * The locks wing: the Lock object (leases, FIFO waiters, fencing tokens), its decisions, signed fences (which
 * counters check) and the wire schemas. Its face to functions/ and to the other wings.
 */
export { checkedFence, signFence } from "./fences";
export { type AcquireResult, Lock } from "./lock";
export {
  LockAcquireBody,
  LockGrant,
  LockReleaseBody,
  LockReleased,
  LockRenewBody,
  LockRenewed,
  LockStatus,
  LockToken,
} from "./schema";
