/**
 * The wire schemas of flow control: the `flow` option that /v1/fanout, /v1/pages and jobs take, and what
 * GET /v1/flow/:key answers. The routes validate with them and the OpenAPI document is built from them; the typed
 * client (src/client/) takes its types from them (`import type`, so no zod reaches it).
 */
import { z } from "@hono/zod-openapi";
import { Name } from "../http/schemas.js";

export const FlowRateSchema = z
  .object({
    limit: z.number().int().min(1).max(1_000_000).openapi({ example: 5 }),
    periodMs: z.number().int().min(1).max(86_400_000).openapi({ example: 1_000 }),
  })
  .strict()
  .openapi("FlowRate", { description: "At most `limit` calls start in any window of `periodMs`" });

export const FlowSchema = z
  .object({
    key: Name,
    parallelism: z
      .number()
      .int()
      .min(1)
      .optional()
      .openapi({ example: 2, description: "Calls in flight at once (at most FLOW_MAX_PARALLELISM)" }),
    rate: FlowRateSchema.optional(),
  })
  .strict()
  .refine((f) => f.parallelism !== undefined || f.rate !== undefined, { message: "needs parallelism or rate" })
  .openapi("Flow", { description: "Limits shared by every call under the key (per token); over them a call waits" });

export const FlowKeyParams = z.object({ key: Name.openapi({ param: { name: "key", in: "path" } }) });

export const FlowStatusSchema = z
  .object({
    key: z.string(),
    inFlight: z.number().int(),
    waiting: z.number().int().openapi({ description: "Callers in the key's line" }),
    holders: z.number().int(),
    rateUsed: z.number().int().nullable().openapi({ description: "Starts in the current window" }),
    parallelism: z.number().int().nullable(),
    rate: FlowRateSchema.nullable(),
    paused: z.boolean(),
  })
  .openapi("FlowStatus");

/** What a call asks for: the key and its limits. */
export type FlowSpec = z.output<typeof FlowSchema>;
