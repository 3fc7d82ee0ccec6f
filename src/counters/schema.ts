/**
 * The wire schemas of /v1/counters: increments, sets, fenced reads, shard counts and the value every call answers. The routes
 * (functions/counters.ts) validate with them and the OpenAPI document is built from them; the typed client
 * (src/client/) takes its types from them (`import type`, so no zod reaches it).
 */
import { z } from "@hono/zod-openapi";
import { Name } from "../http/schemas.js";

const SafeInt = z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const FenceSig = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be the sig of the lock's grant")
  .openapi({
    description: "The lock's proof that it issued this token (the grant's fence.sig)",
    example: "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw",
  });
export const Fence = z
  .object({ lock: Name, token: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), sig: FenceSig })
  .strict()
  .openapi("Fence", {
    description:
      "The `fence` of a lock's grant, as it came: a token the lock did not issue is refused (403), one lower than the highest seen (409)",
  });
export const CounterFenceQuery = z.object({
  lock: Name.optional().openapi({ description: "Fenced read: the lock whose token is given" }),
  token: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  sig: FenceSig.optional(),
});
export const CounterValue = z
  .object({
    name: z.string(),
    value: z.number().int(),
    updatedAt: z.number().nullable(),
    shards: z.number().int().min(1).openapi({ description: "Objects it is spread over" }),
    shard: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({ description: "Sharded: the shard that took it, whose value `value` is" }),
  })
  .openapi("CounterValue");
export const CounterShardsBody = z
  .object({
    shards: z.number().int().min(1).openapi({ example: 4, description: "At most COUNTER_MAX_SHARDS (256)" }),
  })
  .strict();
export const CounterShards = z.object({ name: z.string(), shards: z.number().int().min(1) });
export const CounterIncrementBody = z
  .object({
    by: SafeInt.default(1).openapi({ example: 1 }),
    min: SafeInt.optional(),
    max: SafeInt.optional(),
    fence: Fence.optional(),
  })
  .strict();
export const CounterSetBody = z
  .object({ value: SafeInt, ifValue: SafeInt.optional(), fence: Fence.optional() })
  .strict();
