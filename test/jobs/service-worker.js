/**
 * The Worker the tests' service jobs deliver to (vitest.config.ts binds it as JOBS_SERVICE, entrypoint JobHandler,
 * and sets JOBS_SERVICE_BINDING to that name): a user's Worker as docs/jobs.md describes it. Each item's data says
 * what to do with it:
 *
 *   url        fetch it first (the jobs upstream counts each run of the item, and can hold it at a gate)
 *   mode       "report" (default): answer through ctx.report as soon as the item is done; "return": answer in what
 *              handle() returns; "fail": an error (recorded, not retried); "retry": an error with retry: true;
 *              "throw": handle() throws once this item is done (on the first attempt; later ones report);
 *              "silent": no answer at all
 *   progress   report the item's progress once, as {step: 1}
 *   bytes      answer a string of this many bytes instead
 *
 * A value echoes the item's `n`, its idempotency key and the delivery's attempt, job id and chunk.
 */
import { WorkerEntrypoint } from "cloudflare:workers";

export class JobHandler extends WorkerEntrypoint {
  async handle(items, ctx) {
    const returned = [];
    await Promise.all(
      items.map(async ({ index, key, data }) => {
        if (data.url) await (await fetch(data.url)).text();
        if (data.progress) ctx.progress(index, { step: 1 });
        const value =
          data.bytes === undefined
            ? { n: data.n ?? null, key, attempt: ctx.attempt, jobId: ctx.jobId, chunk: ctx.chunk }
            : "x".repeat(data.bytes);
        switch (data.mode) {
          case "return":
            returned.push({ index, value });
            break;
          case "fail":
            returned.push({ index, error: "refused by the handler" });
            break;
          case "retry":
            returned.push({ index, error: "not now", retry: true });
            break;
          case "throw":
            if (ctx.attempt === 1) throw new Error("the handler threw");
            await ctx.report([{ index, value }]);
            break;
          case "silent":
            break;
          default:
            await ctx.report([{ index, value }]);
        }
      }),
    );
    return returned;
  }
}

export default {
  fetch: () => new Response("the jobs tests' service Worker"),
};
