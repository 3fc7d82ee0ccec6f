/**
 * The typed client's types are the server's: what each method answers is the `z.output` of the route's response
 * schema, and what it sends must satisfy the `z.input` of the request schema (the client checks its bodies with
 * `satisfies`, so a field renamed in a schema fails `npm run typecheck`). These are compile-time checks:
 * `npm run typecheck` fails when they do not hold.
 */
import type { z } from "@hono/zod-openapi";
import { describe, expectTypeOf, it } from "vitest";
import type { createClient, FanoutResult, JobStatus, LockLease } from "../../src/client/index";
import type { CounterIncrementBody, CounterValue } from "../../src/counters/schema";
import type { FanoutOptionsSchema, FanoutResultSchema } from "../../src/fanout/schema";
import type { JobStatusSchema, ResultsPageSchema } from "../../src/jobs/schema";
import type { LockAcquireBody, LockGrant, LockStatus } from "../../src/locks/schema";
import type { RateLimitDecision } from "../../src/ratelimits/schema";
import type { SemaphoreStatus } from "../../src/semaphores/schema";
import type { CreateTokenBody, TokenCreatedSchema, TokenSchema } from "../../src/tokens/schema";

type Client = ReturnType<typeof createClient>;
type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;

describe("the client's types are the schemas' types", () => {
  it("answers what the response schemas describe", () => {
    expectTypeOf<Answer<ReturnType<Client["counter"]>["increment"]>>().toEqualTypeOf<z.output<typeof CounterValue>>();
    expectTypeOf<Answer<ReturnType<Client["lock"]>["status"]>>().toEqualTypeOf<z.output<typeof LockStatus>>();
    expectTypeOf<Answer<ReturnType<Client["semaphore"]>["status"]>>().toEqualTypeOf<z.output<typeof SemaphoreStatus>>();
    expectTypeOf<Answer<ReturnType<Client["rateLimit"]>["take"]>>().toEqualTypeOf<z.output<typeof RateLimitDecision>>();
    expectTypeOf<Answer<Client["jobs"]["get"]>>().toEqualTypeOf<JobStatus>();
    expectTypeOf<JobStatus>().toEqualTypeOf<z.output<typeof JobStatusSchema>>();
    expectTypeOf<FanoutResult>().toEqualTypeOf<z.output<typeof FanoutResultSchema>>();
    expectTypeOf<LockLease["fence"]>().toEqualTypeOf<z.output<typeof LockGrant>["fence"]>();
    type Result = ReturnType<Client["jobs"]["results"]> extends AsyncIterable<infer T> ? T : never;
    expectTypeOf<Result>().toEqualTypeOf<z.output<typeof ResultsPageSchema>["items"][number]>();
    expectTypeOf<Answer<Client["tokens"]["create"]>>().toEqualTypeOf<z.output<typeof TokenCreatedSchema>>();
    expectTypeOf<Answer<Client["tokens"]["list"]>>().toEqualTypeOf<z.output<typeof TokenSchema>[]>();
  });

  it("takes what the request schemas accept", () => {
    expectTypeOf<Parameters<Client["fanout"]>[1]>().toExtend<z.input<typeof FanoutOptionsSchema> | undefined>();
    expectTypeOf<{ min: 0; max: 10 }>().toExtend<Pick<z.input<typeof CounterIncrementBody>, "min" | "max">>();
    expectTypeOf<Parameters<Client["tokens"]["create"]>[0]>().toEqualTypeOf<z.input<typeof CreateTokenBody>>();
    // A body with a field the schema does not have does not compile: the client's bodies are checked this way.
    // @ts-expect-error `ttl` is not a field of the acquire body (it is `ttlMs`)
    ({ owner: "o", ttl: 1_000 }) satisfies z.input<typeof LockAcquireBody>;
  });
});
