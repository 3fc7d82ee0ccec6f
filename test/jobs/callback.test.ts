/**
 * Completion callbacks, with the real Job object, alarm, queue and a loopback receiver: when a job ends in a state
 * its `on` names, its alarm POSTs the final status, signed as webhook jobs are (Standard Webhooks, verified here by an
 * independent verifier), once per end of the job (one webhook-id for all attempts); a failing receiver is retried with
 * backoff until it answers, an answer that cannot change (a 404, a redirect to a blocked address) or
 * JOBS_CALLBACK_ATTEMPTS attempts give it up; the status says where it is, and the retention waits for it.
 */
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import type { Job } from "../../src/jobs/job";
import type { JobStatus } from "../../src/jobs/types";
import { settings } from "../../src/settings";
import { up } from "../helpers/upstream";
import { AUTH, BASE, deliver, path, received, seedFanoutJob, UP } from "./helpers";
import { verifyStandardWebhook } from "./verify-webhook";

type JobStub = DurableObjectStub<Job>;
const SECRET = env.JOBS_WEBHOOK_SECRET as string;
const RETENTION_MS = settings(env).JOBS_RETENTION_HOURS * 3_600_000;

const send = (method: string, p: string, init: RequestInit = {}) =>
  exports.default.fetch(`${BASE}${p}`, { method, ...init, headers: { ...AUTH, ...(init.headers ?? {}) } });

async function postJob(body: unknown): Promise<{ id: string; stub: JobStub }> {
  const res = await send("POST", "/v1/jobs", {
    headers: { "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  const { id } = await res.json<{ id: string }>();
  return { id, stub: env.JOB.getByName(id) };
}

const statusOf = async (id: string) => (await send("GET", `/v1/jobs/${id}`)).json<JobStatus>();
const alarmAt = (stub: JobStub) => runInDurableObject(stub, (_: Job, state) => state.storage.getAlarm());

/** The callback's state once it is `state` (the job's alarm delivers it; nothing here orders it by time). */
const callbackWhen = (id: string, state: string) =>
  vi.waitFor(
    async () => {
      const status = await statusOf(id);
      if (status.callback?.state !== state) throw new Error(`callback ${JSON.stringify(status.callback)}`);
      return status;
    },
    { timeout: 20_000, interval: 50 },
  );

interface Delivery {
  headers: Record<string, string>;
  body: string;
}
const parsed = (d: Delivery | undefined) =>
  JSON.parse(d?.body ?? "null") as { type: string; timestamp: string; data: JobStatus };

describe("completion callbacks", () => {
  it("POST the final status once, signed as the Standard Webhooks spec says, when the job ends", async () => {
    const hook = path("cb-ok");
    const { id, stub } = await postJob({
      type: "fanout",
      requests: [{ url: UP + path("a") }, { url: UP + path("b", "status=404") }],
      callback: { url: UP + hook },
    });
    const status = await callbackWhen(id, "delivered");
    expect(status.callback).toEqual({
      url: UP + hook,
      on: ["succeeded", "partial", "failed", "canceled"],
      state: "delivered",
      attempts: 1,
    });
    const deliveries = await received(hook);
    expect(deliveries).toHaveLength(1);
    const [d] = deliveries;
    expect(d?.headers["webhook-id"]).toBe(`cb_${id}_1`);
    expect(d?.headers["content-type"]).toBe("application/json");
    expect(await verifyStandardWebhook(SECRET, d?.headers ?? {}, d?.body ?? "")).toBe(true);
    expect(await verifyStandardWebhook(SECRET, d?.headers ?? {}, `${d?.body} `)).toBe(false);
    const payload = parsed(d);
    expect(payload.type).toBe("job.partial");
    expect(Date.parse(payload.timestamp)).toBeGreaterThan(0);
    const { callback: _, ...final } = status;
    expect(payload.data).toEqual(final);
    // The retention starts once the callback has settled, not when the job ended.
    const alarm = (await alarmAt(stub)) ?? 0;
    expect(alarm).toBeGreaterThanOrEqual(Date.parse(status.updatedAt) + RETENTION_MS);
    expect(alarm).toBeLessThanOrEqual(Date.now() + RETENTION_MS);
  });

  it("retry a failing receiver with backoff, under one webhook-id, until it answers; the retention waits", async () => {
    const hook = path("cb-flaky", "failFirst=1");
    const { id, stub } = await postJob({
      type: "webhook",
      url: UP + path("w"),
      payload: {},
      callback: { url: UP + hook },
    });
    const failing = await callbackWhen(id, "failing");
    expect(failing.callback).toMatchObject({ state: "failing", attempts: 1, lastError: "HTTP 503" });
    // Not the retention: the next attempt (JOBS_RETRY_BASE_SECONDS 2: after 1-2 s).
    const next = (await alarmAt(stub)) ?? 0;
    expect(next).toBeLessThanOrEqual(Date.now() + 2_000);
    const delivered = await callbackWhen(id, "delivered");
    expect(delivered.callback).toEqual({ url: UP + hook, on: expect.any(Array), state: "delivered", attempts: 2 });
    const deliveries = await received(hook.split("?")[0] as string);
    expect(deliveries.map((d) => d.headers["webhook-id"])).toEqual([`cb_${id}_1`, `cb_${id}_1`]);
    expect(deliveries.map((d) => parsed(d).type)).toEqual(["job.succeeded", "job.succeeded"]);
  });

  it("give up at once on an answer that cannot change: a 404, a redirect to a blocked address", async () => {
    const notFound = await postJob({
      type: "fanout",
      requests: [{ url: UP + path("c") }],
      callback: { url: UP + path("cb-404", "status=404") },
    });
    expect((await callbackWhen(notFound.id, "given-up")).callback).toMatchObject({
      attempts: 1,
      lastError: "HTTP 404",
    });
    const redirected = await postJob({
      type: "fanout",
      requests: [{ url: UP + path("d") }],
      callback: { url: up({ redirect: "http://10.0.0.1/hooks", code: 307 }) },
    });
    const status = await callbackWhen(redirected.id, "given-up");
    expect(status.callback).toMatchObject({ attempts: 1 });
    expect(status.callback?.lastError).toMatch(/^blocked: /);
  });

  it("give up after JOBS_CALLBACK_ATTEMPTS failed attempts", async () => {
    const hook = path("cb-down", "status=503");
    const callbackJson = JSON.stringify({ url: UP + hook, on: ["succeeded"] });
    const { id, stub } = await seedFanoutJob([UP + path("e")], 1, {}, { callbackJson });
    // Three attempts, each due at once after the one before (no backoff).
    await runInDurableObject(stub, (instance: Job) => {
      const vars = { JOBS_CALLBACK_ATTEMPTS: "3", JOBS_RETRY_BASE_SECONDS: "0" };
      Object.defineProperty(instance, "env", { value: { ...env, ...vars }, configurable: true });
    });
    await deliver("edgeloop-jobs", [{ id: "e", body: { jobId: id, chunk: 0 } }]);
    const status = await callbackWhen(id, "given-up");
    expect(status.callback).toMatchObject({ attempts: 3, lastError: "HTTP 503" });
    expect(await received(hook.split("?")[0] as string)).toHaveLength(3);
  });

  it("skip the callback when the job ends in a state its `on` does not name", async () => {
    const hook = path("cb-skipped");
    const { id, stub } = await postJob({
      type: "fanout",
      requests: [{ url: UP + path("f") }],
      callback: { url: UP + hook, on: ["failed", "partial"] },
    });
    const status = await callbackWhen(id, "skipped");
    expect(status).toMatchObject({ state: "succeeded", callback: { state: "skipped", attempts: 0 } });
    // Nothing is due: the one alarm is the end of the retention, from when the job ended.
    expect(await alarmAt(stub)).toBe(Date.parse(status.updatedAt) + RETENTION_MS);
    expect(await received(hook)).toEqual([]);
  });

  it("report a canceled job, a scheduled one too; a revived job's next end is a new delivery", async () => {
    const hook = path("cb-canceled");
    const { id } = await postJob({
      type: "fanout",
      requests: [{ url: UP + path("g") }],
      delayMs: 3_600_000,
      callback: { url: UP + hook },
    });
    expect((await send("DELETE", `/v1/jobs/${id}`)).status).toBe(200);
    await callbackWhen(id, "delivered");
    expect((await received(hook)).map((d) => [d.headers["webhook-id"], parsed(d).type, parsed(d).data.state])).toEqual([
      [`cb_${id}_1`, "job.canceled", "canceled"],
    ]);

    const again = path("cb-revived");
    const callbackJson = JSON.stringify({ url: UP + again, on: ["failed", "succeeded"] });
    const { id: revived, stub } = await seedFanoutJob([UP + path("h")], 1, {}, { callbackJson });
    await deliver("edgeloop-jobs-dlq", [{ id: "x", body: { jobId: revived, chunk: 0 } }]);
    await callbackWhen(revived, "delivered");
    expect(await stub.retryDead()).toMatchObject({ outcome: "requeued", status: { callback: { state: "waiting" } } });
    await vi.waitFor(
      async () => expect((await received(again)).map((d) => parsed(d).type)).toEqual(["job.failed", "job.succeeded"]),
      { timeout: 20_000, interval: 50 },
    );
    expect((await received(again)).map((d) => d.headers["webhook-id"])).toEqual([`cb_${revived}_1`, `cb_${revived}_2`]);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.status())?.callback).toMatchObject({ state: "delivered", attempts: 1 });
  });

  it("refuse a blocked callback url (400), and a callback without JOBS_WEBHOOK_SECRET (503), storing nothing", async () => {
    const body = { type: "fanout", requests: [{ url: UP + path("i") }], callback: { url: "http://10.0.0.1/hook" } };
    const res = await send("POST", "/v1/jobs", {
      headers: { "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: "urn:edgeloop:problem:url-blocked",
      errors: [{ path: "callback.url" }],
    });
    const { JOBS_WEBHOOK_SECRET: _secret, ...unsigned } = env;
    const key = crypto.randomUUID();
    const request = new Request(`${BASE}/v1/jobs`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ ...body, callback: { url: UP + path("i-hook") } }),
    });
    const refused = await worker.fetch(request, unsigned as Env, createExecutionContext());
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ type: "urn:edgeloop:problem:not-configured" });
  });
});
