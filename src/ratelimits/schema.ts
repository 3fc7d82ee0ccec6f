/**
 * The wire schemas of /v1/ratelimits: what a take asks for and the decision it gets. The route
 * (functions/ratelimits.ts) validates with them and the OpenAPI document is built from them; the typed client
 * (src/client/) takes its types from them (`import type`, so no zod reaches it).
 */
import { z } from "@hono/zod-openapi";

export const RateLimitBody = z
  .object({
    cost: z.number().int().min(1).max(1_000_000).default(1),
    limit: z.number().int().min(1).max(1_000_000_000).openapi({ example: 10 }),
    periodMs: z.number().int().min(1).max(86_400_000).openapi({ example: 1_000 }),
    burst: z.number().int().min(1).max(1_000_000_000).optional().openapi({ description: "Defaults to limit" }),
  })
  .strict();
export const RateLimitDecision = z
  .object({
    key: z.string(),
    allowed: z.boolean(),
    remaining: z.number().int(),
    resetMs: z.number().int(),
    retryAfterMs: z.number().int(),
  })
  .openapi("RateLimitDecision");
