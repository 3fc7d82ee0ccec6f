/**
 * The typed client's types are the server's. src/client/types.ts writes them out as plain TypeScript (so the package's
 * declarations need no zod), and this file holds every one of them to its zod schema: what the client receives equals
 * the response schema's `z.output`; what it sends has exactly the request schema's fields (`z.input`) and is accepted
 * by it. The client's methods answer these types. These are compile-time checks: `npm run typecheck` fails when one
 * does not hold (a field renamed, added, dropped or retyped on either side).
 */
import type { z } from "@hono/zod-openapi";
import { describe, expectTypeOf, it } from "vitest";
import type * as T from "../../src/client/index";
import type { createClient, FanoutResult, JobStatus, LockLease } from "../../src/client/index";
import type * as counters from "../../src/counters/schema";
import type * as fanout from "../../src/fanout/schema";
import type * as flow from "../../src/flow/schema";
import type { ProblemSchema } from "../../src/http/schemas";
import type * as jobs from "../../src/jobs/schema";
import type * as locks from "../../src/locks/schema";
import type * as pages from "../../src/pages/schema";
import type * as ratelimits from "../../src/ratelimits/schema";
import type { TicketRequest } from "../../src/rooms/schema";
import type * as schedules from "../../src/schedules/schema";
import type * as semaphores from "../../src/semaphores/schema";
import type * as tokens from "../../src/tokens/schema";

type Client = ReturnType<typeof createClient>;
type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;
type Out<S extends z.ZodType> = z.output<S>;
type In<S extends z.ZodType> = z.input<S>;

describe("the client's types are the schemas' types", () => {
  it("what the client receives equals each response schema's z.output", () => {
    expectTypeOf<T.FanoutResult>().toEqualTypeOf<Out<typeof fanout.FanoutResultSchema>>();
    expectTypeOf<T.FanoutSummary>().toEqualTypeOf<Out<typeof fanout.FanoutSummarySchema>>();
    expectTypeOf<T.CounterValue>().toEqualTypeOf<Out<typeof counters.CounterValue>>();
    expectTypeOf<T.CounterShards>().toEqualTypeOf<Out<typeof counters.CounterShards>>();
    expectTypeOf<T.Fence>().toEqualTypeOf<Out<typeof counters.Fence>>();
    expectTypeOf<T.LockGrant>().toEqualTypeOf<Out<typeof locks.LockGrant>>();
    expectTypeOf<T.LockStatus>().toEqualTypeOf<Out<typeof locks.LockStatus>>();
    expectTypeOf<T.SemaphoreGrant>().toEqualTypeOf<Out<typeof semaphores.SemaphoreLease>>();
    expectTypeOf<T.SemaphoreStatus>().toEqualTypeOf<Out<typeof semaphores.SemaphoreStatus>>();
    expectTypeOf<T.RateLimitDecision>().toEqualTypeOf<Out<typeof ratelimits.RateLimitDecision>>();
    expectTypeOf<T.JobCreated>().toEqualTypeOf<Out<typeof jobs.JobCreatedSchema>>();
    expectTypeOf<T.JobStatus>().toEqualTypeOf<Out<typeof jobs.JobStatusSchema>>();
    expectTypeOf<T.JobResultsPage>().toEqualTypeOf<Out<typeof jobs.ResultsPageSchema>>();
    expectTypeOf<T.JobRetried>().toEqualTypeOf<Out<typeof jobs.RetrySchema>>();
    expectTypeOf<T.JobSummary>().toEqualTypeOf<Out<typeof jobs.JobSummarySchema>>();
    expectTypeOf<T.JobList>().toEqualTypeOf<Out<typeof jobs.JobListSchema>>();
    expectTypeOf<T.Page>().toEqualTypeOf<Out<typeof pages.PageSchema>>();
    expectTypeOf<T.PagesSummary>().toEqualTypeOf<Out<typeof pages.PagesSummarySchema>>();
    expectTypeOf<T.Problem>().toEqualTypeOf<Out<typeof ProblemSchema> & Record<string, unknown>>();
    expectTypeOf<T.FlowStatus>().toEqualTypeOf<Out<typeof flow.FlowStatusSchema>>();
    expectTypeOf<T.ScheduleSummary>().toEqualTypeOf<Out<typeof schedules.ScheduleSummarySchema>>();
    expectTypeOf<Omit<T.Schedule, "job">>().toEqualTypeOf<Omit<Out<typeof schedules.ScheduleSchema>, "job">>();
    expectTypeOf<T.ScheduleDeleted>().toEqualTypeOf<Out<typeof schedules.ScheduleDeletedSchema>>();
    expectTypeOf<T.Token>().toEqualTypeOf<Out<typeof tokens.TokenSchema>>();
    expectTypeOf<T.CreatedToken>().toEqualTypeOf<Out<typeof tokens.TokenCreatedSchema>>();
  });

  it("what the client sends has the request schema's fields and is accepted by it", () => {
    expectTypeOf<T.FanoutRequest>().toExtend<In<typeof fanout.FanoutItemSchema>>();
    expectTypeOf<keyof T.FanoutRequest>().toEqualTypeOf<keyof In<typeof fanout.FanoutItemSchema>>();
    expectTypeOf<T.FanoutOptions>().toEqualTypeOf<In<typeof fanout.FanoutOptionsSchema>>();
    expectTypeOf<T.CounterIncrementInput>().toEqualTypeOf<In<typeof counters.CounterIncrementBody>>();
    expectTypeOf<T.CounterSetInput>().toEqualTypeOf<In<typeof counters.CounterSetBody>>();
    expectTypeOf<T.CounterShardsInput>().toEqualTypeOf<In<typeof counters.CounterShardsBody>>();
    // The token is coerced from the query string (its z.input is unknown): the client sends a number.
    expectTypeOf<T.CounterFenceQuery>().toExtend<In<typeof counters.CounterFenceQuery>>();
    expectTypeOf<keyof T.CounterFenceQuery>().toEqualTypeOf<keyof In<typeof counters.CounterFenceQuery>>();
    expectTypeOf<T.LockAcquireInput>().toEqualTypeOf<In<typeof locks.LockAcquireBody>>();
    expectTypeOf<T.LockRenewInput>().toEqualTypeOf<In<typeof locks.LockRenewBody>>();
    expectTypeOf<T.LockReleaseInput>().toEqualTypeOf<In<typeof locks.LockReleaseBody>>();
    expectTypeOf<T.SemaphoreAcquireInput>().toEqualTypeOf<In<typeof semaphores.SemaphoreAcquireBody>>();
    expectTypeOf<T.SemaphoreRenewInput>().toEqualTypeOf<In<typeof semaphores.SemaphoreRenewBody>>();
    expectTypeOf<T.SemaphoreReleaseInput>().toEqualTypeOf<In<typeof semaphores.SemaphoreReleaseBody>>();
    expectTypeOf<T.RateLimitInput>().toEqualTypeOf<In<typeof ratelimits.RateLimitBody>>();
    expectTypeOf<T.TicketInput>().toEqualTypeOf<In<typeof TicketRequest>>();
    expectTypeOf<T.Flow>().toEqualTypeOf<In<typeof flow.FlowSchema>>();
    expectTypeOf<T.TokenInput>().toExtend<In<typeof tokens.CreateTokenBody>>();
    expectTypeOf<keyof T.TokenInput>().toEqualTypeOf<keyof In<typeof tokens.CreateTokenBody>>();

    // Headers are a record of strings to the client; the schema reads them through a check (its z.input is unknown).
    type JobIn = In<typeof jobs.CreateJobSchema>;
    expectTypeOf<T.JobSpec>().toExtend<JobIn>();
    expectTypeOf<keyof T.FanoutJobSpec>().toEqualTypeOf<keyof Extract<JobIn, { type: "fanout" }>>();
    expectTypeOf<keyof T.WebhookJobSpec>().toEqualTypeOf<keyof Extract<JobIn, { type: "webhook" }>>();
    expectTypeOf<keyof T.HashJobSpec>().toEqualTypeOf<keyof Extract<JobIn, { type: "hash" }>>();
    expectTypeOf<keyof T.ServiceJobSpec>().toEqualTypeOf<keyof Extract<JobIn, { type: "service" }>>();
    expectTypeOf<T.HashItem>().toEqualTypeOf<In<typeof jobs.HashItemSchema>>();
    expectTypeOf<T.JobType>().toEqualTypeOf<JobIn["type"]>();
    expectTypeOf<T.PagesSpec>().toExtend<In<typeof pages.PagesRequestSchema>>();
    expectTypeOf<keyof T.PagesSpec>().toEqualTypeOf<keyof In<typeof pages.PagesRequestSchema>>();
    expectTypeOf<T.PagesNext>().toEqualTypeOf<In<typeof pages.PagesRequestSchema>["next"]>();
  });

  it("the client's methods answer those types", () => {
    expectTypeOf<Answer<ReturnType<Client["counter"]>["increment"]>>().toEqualTypeOf<T.CounterValue>();
    expectTypeOf<Answer<ReturnType<Client["lock"]>["status"]>>().toEqualTypeOf<T.LockStatus>();
    expectTypeOf<Answer<ReturnType<Client["semaphore"]>["status"]>>().toEqualTypeOf<T.SemaphoreStatus>();
    expectTypeOf<Answer<ReturnType<Client["rateLimit"]>["take"]>>().toEqualTypeOf<T.RateLimitDecision>();
    expectTypeOf<Answer<Client["jobs"]["get"]>>().toEqualTypeOf<JobStatus>();
    expectTypeOf<Answer<ReturnType<Client["flow"]>["status"]>>().toEqualTypeOf<T.FlowStatus>();
    expectTypeOf<Answer<Client["tokens"]["create"]>>().toEqualTypeOf<T.CreatedToken>();
    expectTypeOf<Answer<Client["tokens"]["list"]>>().toEqualTypeOf<T.Token[]>();
    expectTypeOf<Parameters<Client["tokens"]["create"]>[0]>().toEqualTypeOf<T.TokenInput>();
    expectTypeOf<Answer<ReturnType<Client["flow"]>["pause"]>>().toEqualTypeOf<T.FlowStatus>();
    // `flow` on fan-outs, crawls and jobs is the flow schema's input.
    expectTypeOf<NonNullable<Parameters<Client["fanout"]>[1]>["flow"]>().toEqualTypeOf<T.Flow | undefined>();
    expectTypeOf<Parameters<Client["pages"]>[0]["flow"]>().toEqualTypeOf<T.Flow | undefined>();
    expectTypeOf<FanoutResult>().toEqualTypeOf<Out<typeof fanout.FanoutResultSchema>>();
    expectTypeOf<LockLease["fence"]>().toEqualTypeOf<Out<typeof locks.LockGrant>["fence"]>();
    type Result = ReturnType<Client["jobs"]["results"]> extends AsyncIterable<infer R> ? R : never;
    expectTypeOf<Result>().toEqualTypeOf<Out<typeof jobs.ResultsPageSchema>["items"][number]>();
    type Listed = ReturnType<Client["jobs"]["list"]> extends AsyncIterable<infer R> ? R : never;
    expectTypeOf<Listed>().toEqualTypeOf<Out<typeof jobs.JobSummarySchema>>();
    expectTypeOf<Parameters<Client["fanout"]>[1]>().toExtend<In<typeof fanout.FanoutOptionsSchema> | undefined>();
    // A body with a field the schema does not have does not compile: the client's bodies are checked this way.
    // @ts-expect-error `ttl` is not a field of the acquire body (it is `ttlMs`)
    ({ owner: "o", ttl: 1_000 }) satisfies T.LockAcquireInput;
    expectTypeOf<Omit<T.ScheduleSpec, "job">>().toEqualTypeOf<Omit<In<typeof schedules.ScheduleBody>, "job">>();
    expectTypeOf<T.ScheduleSpec>().toExtend<In<typeof schedules.ScheduleBody>>();
    expectTypeOf<Parameters<Client["schedules"]["create"]>[0]>().toEqualTypeOf<T.ScheduleSpec>();
    type ListedSchedule = ReturnType<Client["schedules"]["list"]> extends AsyncIterable<infer S> ? S : never;
    expectTypeOf<ListedSchedule>().toEqualTypeOf<T.ScheduleSummary>();
    expectTypeOf<Answer<Client["schedules"]["get"]>>().toEqualTypeOf<T.Schedule>();
    const job = { type: "webhook", url: "https://x.test/", payload: 1 } as const;
    // @ts-expect-error `tz` is not a field of a schedule (it is `timezone`)
    ({ name: "n", cron: "0 3 * * *", tz: "UTC", job }) satisfies T.ScheduleSpec;
  });
});
