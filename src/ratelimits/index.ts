/**
 * The rate limits wing: the RateLimiter object (GCRA per key, leased batches), the rate-limit middleware (the
 * /v1 limit, the demo's, a room's joins) and the wire schemas. Its face to functions/ and to the other wings.
 */
export { apiRateLimit, rateCheck, rateLimit, rateLimited } from "./rate-limit";
export { RateLimiter } from "./rate-limiter";
export { RateLimitBody, RateLimitDecision } from "./schema";
