/**
 * The fan-out wing: the engine (settle, retries, hedging, budgets), one upstream call with its redirects, the
 * outbound URL guard, header limits and the wire schemas. Its face to functions/ and to the other wings (pages and jobs
 * run on the engine).
 */
export { type CallGate, type FanoutResult, fanout, fanoutAll } from "./engine";
export { checkHeaderLimits, type HeaderLimitBreach, headerLimitBreach, headerLimitProblem } from "./limits";
export {
  type FanoutItem,
  FanoutItemSchema,
  type FanoutOptions,
  FanoutOptionsSchema,
  FanoutResultSchema,
  FanoutSummarySchema,
} from "./schema";
export { type ByteBudget, type GuardedInit, guardedFetch, safeAcrossOrigins, UpstreamError } from "./upstream";
export { createUrlGuard, DEMO_UPSTREAM_PATH, demoUpstreamGuard, type UrlGuard } from "./url-guard";
