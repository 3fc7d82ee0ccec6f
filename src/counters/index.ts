/**
 * The counters wing: the Counter object (group commit, bounds, fenced writes), its arithmetic, the shard router
 * and the wire schemas. Its face to functions/ and to the other wings.
 */
export { Counter, type CounterResult } from "./counter";
export { countersOf } from "./router";
export {
  CounterFenceQuery,
  CounterIncrementBody,
  CounterSetBody,
  CounterShards,
  CounterShardsBody,
  CounterValue,
} from "./schema";
