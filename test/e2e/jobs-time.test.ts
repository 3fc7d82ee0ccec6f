/**
 * Jobs with time on the built worker over real HTTP (Miniflare, the queue consumer in-process, a loopback upstream):
 * a delayed job is scheduled, listed as such, and runs once, not before its time; a job's retry policy gives up on a
 * chunk after its attempts; a completion callback arrives signed with the job's final status; GET /v1/jobs pages the
 * caller's jobs newest first.
 */
import { describe, expect, it } from "vitest";
import type { JobStatus } from "../../src/jobs/types.ts";
import { verifyStandardWebhook } from "../jobs/verify-webhook.ts";
import { startJobsUpstream } from "../setup/jobs-upstream.ts";
import { until } from "./support/until.ts";
import { useUpstream } from "./support/upstream.ts";
import { useWorker } from "./support/worker.ts";

const SECRET = "whsec_ZWRnZWxvb3AtZTJlLXRpbWUtc2VjcmV0";

const upstream = useUpstream(startJobsUpstream);

const worker = useWorker({ FANOUT_ALLOW_HOSTS: "127.0.0.1", JOBS_WEBHOOK_SECRET: SECRET });

async function post(body: unknown): Promise<{ id: string; state: string }> {
  const res = await worker.api("/v1/jobs", {
    method: "POST",
    headers: { "idempotency-key": crypto.randomUUID() },
    json: body,
  });
  expect(res.status).toBe(202);
  return (await res.json()) as { id: string; state: string };
}

const status = async (id: string) => (await (await worker.api(`/v1/jobs/${id}`)).json()) as JobStatus;

async function statusWhen(id: string, done: (s: JobStatus) => boolean, what: string): Promise<JobStatus> {
  let last: JobStatus | undefined;
  await until(
    async () => {
      last = await status(id);
      return done(last);
    },
    what,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  return last as JobStatus;
}

describe("jobs with time on the built worker", () => {
  it("schedules a delayed job, lists it, and runs it once when it is due, not before", async () => {
    const run = crypto.randomUUID();
    const job = await post({ type: "fanout", requests: [{ url: `${upstream.url}/${run}/later` }], delayMs: 1_500 });
    expect(job.state).toBe("scheduled");
    const scheduled = await status(job.id);
    const listed = (await (await worker.api("/v1/jobs?state=scheduled")).json()) as { items: { id: string }[] };
    expect(listed.items.map((j) => j.id)).toContain(job.id);
    const ended = await statusWhen(job.id, (s) => s.state === "succeeded", "the delayed job to run");
    expect(upstream.hits.get(`/${run}/later`)).toBe(1);
    // It was queued no earlier than its start (the results' own clock: when the call finished).
    expect(Date.parse(ended.updatedAt)).toBeGreaterThanOrEqual(Date.parse(scheduled.runAt ?? ""));
  });

  it("gives up a chunk after the job's retry.attempts, and posts the signed final status to its callback", async () => {
    const run = crypto.randomUUID();
    const hook = `/${run}/hook`;
    const job = await post({
      type: "fanout",
      requests: [{ url: `${upstream.url}/${run}/ok` }, { url: `${upstream.url}/${run}/down?status=503` }],
      retry: { attempts: 2, baseMs: 500, maxMs: 1_000 },
      callback: { url: `${upstream.url}${hook}` },
    });
    const final = await statusWhen(job.id, (s) => s.callback?.state === "delivered", "the callback to be delivered");
    expect(final).toMatchObject({
      state: "partial",
      done: 1,
      dead: 1,
      failed: 1,
      retry: { attempts: 2, baseMs: 500, maxMs: 1_000 },
      callback: { state: "delivered", attempts: 1 },
    });
    expect(upstream.hits.get(`/${run}/down?status=503`)).toBe(2);
    const deliveries = (await (await fetch(`${upstream.url}/__received?path=${hook}`)).json()) as {
      headers: Record<string, string>;
      body: string;
    }[];
    expect(deliveries).toHaveLength(1);
    const [d] = deliveries;
    expect(await verifyStandardWebhook(SECRET, d?.headers ?? {}, d?.body ?? "")).toBe(true);
    const payload = JSON.parse(d?.body ?? "{}") as { type: string; data: JobStatus };
    expect(payload.type).toBe("job.partial");
    expect(payload.data).toMatchObject({ id: job.id, state: "partial", done: 1, dead: 1 });
  });

  it("pages the caller's jobs newest first, each once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await post({ type: "webhook", url: `${upstream.url}/p/${i}`, payload: {}, delayMs: 3_600_000 })).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `?state=scheduled&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await worker.api(`/v1/jobs${q}`)).json()) as {
        items: { id: string }[];
        next: string | null;
      };
      seen.push(...page.items.map((j) => j.id));
      cursor = page.next;
    } while (cursor);
    expect(seen.slice(0, 3)).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) expect((await worker.api(`/v1/jobs/${id}`, { method: "DELETE" })).status).toBe(200);
  });
});
