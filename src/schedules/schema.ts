/**
 * The wire schemas of /v1/schedules: what a schedule is made of, and what the service answers about it. The routes
 * validate with them, the OpenAPI document is built from them, and the typed client takes its types from them.
 * What zod cannot say (the cron parses, the time zone exists, the interval bound) is checked by the route.
 */
import { z } from "@hono/zod-openapi";
import { Name } from "../http/schemas.js";
import { CreateJobSchema } from "../jobs/schema.js";

export const ScheduleParams = z.object({
  name: Name.openapi({ param: { name: "name", in: "path" }, example: "nightly-sync" }),
});

export const ScheduleBody = z
  .object({
    name: Name.openapi({ example: "nightly-sync" }),
    cron: z
      .string()
      .min(1)
      .max(200)
      .openapi({
        example: "30 2 * * *",
        description:
          "Five fields (minute hour day-of-month month day-of-week), or six with seconds first; names, L, W, # and " +
          "@daily-style nicknames. At least SCHEDULES_MIN_INTERVAL_SECONDS between fire times",
      }),
    timezone: z
      .string()
      .max(64)
      .regex(/^[A-Za-z][A-Za-z0-9_+/-]*$/, "must be an IANA time zone name")
      .default("UTC")
      .openapi({ example: "Europe/Berlin", description: "IANA time zone the cron is read in" }),
    job: CreateJobSchema,
    missed: z.enum(["latest", "skip"]).default("latest").openapi({
      description:
        "Fire times missed by more than SCHEDULES_GRACE_SECONDS (downtime): run the latest once, or skip them all",
    }),
    overlap: z.enum(["skip", "allow"]).default("skip").openapi({
      description: "When the previous run's job has not ended: skip this fire time, or create the job anyway",
    }),
    paused: z.boolean().default(false),
  })
  .strict()
  .openapi("ScheduleCreate");
export type ScheduleInput = z.output<typeof ScheduleBody>;

export const ScheduleQuery = z.object({
  next: z.coerce.number().int().min(1).max(20).optional().openapi({ description: "Fire times to list (default 5)" }),
});

export const ScheduleListQuery = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional().openapi({ description: "Default 50" }),
});

const RunSchema = z
  .object({
    fireAt: z.string(),
    state: z.enum(["creating", "created", "skipped", "missed", "failed"]),
    jobId: z.string().optional(),
    jobState: z
      .string()
      .optional()
      .openapi({ description: "The job's state when read (after its retention: its last)" }),
    reason: z.enum(["overlap", "interval"]).optional(),
    until: z.string().optional().openapi({ description: "missed: the last fire time passed over" }),
    count: z.number().int().optional().openapi({ description: "missed: how many (at most 100 counted)" }),
    error: z.string().optional(),
  })
  .openapi("ScheduleRun");

const SummaryShape = {
  name: z.string(),
  cron: z.string(),
  timezone: z.string(),
  missed: z.enum(["latest", "skip"]),
  overlap: z.enum(["skip", "allow"]),
  paused: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  nextRunAt: z.string().nullable(),
};

export const ScheduleSummarySchema = z.object(SummaryShape).openapi("ScheduleSummary");

export const ScheduleSchema = z
  .object({
    ...SummaryShape,
    job: CreateJobSchema,
    nextRuns: z.array(z.string()),
    runs: z.array(RunSchema).openapi({ description: "Newest first, at most SCHEDULES_HISTORY" }),
  })
  .openapi("Schedule");

export const ScheduleListSchema = z
  .object({ items: z.array(ScheduleSummarySchema), next: z.string().nullable() })
  .openapi("ScheduleList");

export const ScheduleDeletedSchema = z
  .object({ name: z.string(), deleted: z.literal(true) })
  .openapi("ScheduleDeleted");
