/**
 * The `service` job type: a job's items are delivered to a Worker the deployer binds (a service binding whose name
 * is the setting JOBS_SERVICE_BINDING), by RPC, one call per chunk: `handle(items, ctx)` on its entrypoint, with
 * each item's index, idempotency key and data. The Worker answers each item — through `ctx.report(answers)` as it
 * goes, or in what `handle` returns — with a value (recorded once by index), an error (recorded, not retried), or an
 * error with `retry: true` (retried, like an item given no answer). So a user's Worker is a queue consumer with
 * the jobs' durability: a crash mid-chunk redelivers only the items without a result.
 */
import type { Settings } from "../../settings";
import type { ServiceAnswer, ServiceTarget } from "../protocol";
import { ServiceItemSchema } from "../schema";
import type { BodyOf, ChunkContext, JobType } from "./define";

/** Each chunk call's timeout (the consumer reads it) and the flow key. */
type ServiceOptions = Omit<BodyOf<"service">, "type" | "items">;

/** The binding JOBS_SERVICE_BINDING names, if it is a service binding (a Fetcher) of this Worker. */
function serviceOf(env: Env, s: Settings): ServiceTarget | undefined {
  const name = s.JOBS_SERVICE_BINDING;
  if (!name || !Object.hasOwn(env, name)) return undefined;
  const binding = (env as unknown as Record<string, unknown>)[name] as { fetch?: unknown } | null;
  return binding && typeof binding.fetch === "function" ? (binding as unknown as ServiceTarget) : undefined;
}

/** Apply the Worker's answers (anything else it sends is ignored). */
function answer(answers: unknown, ctx: ChunkContext<ServiceOptions>): void {
  if (!Array.isArray(answers)) return;
  for (const a of answers as Partial<ServiceAnswer>[]) {
    if (typeof a !== "object" || a === null || !Number.isInteger(a.index)) continue;
    const index = a.index as number;
    if (a.error === undefined) ctx.result(index, { value: a.value ?? null });
    else if (a.retry === true) ctx.retry(index, String(a.error));
    else ctx.fail(index, "handler", String(a.error));
  }
}

export const service: JobType<"service", unknown, ServiceOptions> = {
  name: "service",
  item: ServiceItemSchema,
  split: ({ type: _type, items, ...options }) => ({ items, options }),
  refuse: (_items, _options, env, s) => {
    if (!s.JOBS_SERVICE_BINDING) {
      const detail =
        "Service jobs need JOBS_SERVICE_BINDING: the name of a service binding to your Worker ([[services]] in wrangler.toml).";
      return { outcome: "not-configured", detail };
    }
    if (serviceOf(env, s)) return undefined;
    const detail = `JOBS_SERVICE_BINDING names ${s.JOBS_SERVICE_BINDING}, which is no service binding of this Worker.`;
    return { outcome: "not-configured", detail };
  },
  timeoutMs: (s) => s.JOBS_MAX_TIMEOUT_MS,
  chunk: async (items, ctx) => {
    const target = serviceOf(ctx.env, ctx.settings);
    if (!target) throw new Error(`JOBS_SERVICE_BINDING (${ctx.settings.JOBS_SERVICE_BINDING}) is not bound`);
    const returned: unknown = await target.handle(
      items.map(({ index, key, item }) => ({ index, key, data: item })),
      {
        jobId: ctx.jobId,
        chunk: ctx.chunk,
        attempt: ctx.attempt,
        deadline: ctx.deadline,
        report: async (answers) => answer(answers, ctx),
        progress: (index, data) => ctx.progress(index, data),
      },
    );
    if (returned !== undefined && returned !== null && !Array.isArray(returned)) {
      throw new Error("handle() returned neither an array of answers nor nothing");
    }
    answer(returned, ctx);
  },
};
