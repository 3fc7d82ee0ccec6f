/**
 * GET /v1/jobs and the JobIndex behind it, with the real objects: the caller's jobs newest first, by state, paged by
 * an opaque cursor, each once; another owner's jobs never; a job's row follows its state (scheduled, queued, running,
 * its end) and leaves with its retention. When an update of the index fails, the job keeps it as an outbox entry and
 * its alarm sends it again until the index has it; a late, older update changes nothing; the index keeps at most
 * JOBS_LIST_MAX rows and drops a row at its expiry by itself.
 */
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import { encodeListCursor } from "../../src/jobs/ids";
import type { Job } from "../../src/jobs/job";
import type { JobIndex } from "../../src/jobs/job-index";
import type { JobIndexEntry, JobStatus } from "../../src/jobs/types";
import { settings } from "../../src/settings";
import { BASE, path, UP } from "./helpers";

type JobStub = DurableObjectStub<Job>;
const RETENTION_MS = settings(env).JOBS_RETENTION_HOURS * 3_600_000;

interface Summary {
  id: string;
  type: string;
  state: string;
  total: number;
  createdAt: string;
  runAt?: string;
  endedAt?: string;
}
interface Page {
  items: Summary[];
  next: string | null;
}

/** A request as a caller with its own token: its own owner, its own list. */
async function as(token: string, method: string, p: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    headers["idempotency-key"] = crypto.randomUUID();
  }
  const request = new Request(`${BASE}${p}`, {
    method,
    headers,
    body: body === undefined ? null : JSON.stringify(body),
  });
  return worker.fetch(request, { ...env, API_TOKEN: token }, createExecutionContext());
}

async function create(token: string, body: Record<string, unknown>): Promise<string> {
  const res = await as(token, "POST", "/v1/jobs", body);
  expect(res.status).toBe(202);
  return (await res.json<{ id: string }>()).id;
}

const list = async (token: string, query = "") => (await as(token, "GET", `/v1/jobs${query}`)).json<Page>();

/** Every job the caller's list holds, page by page. */
async function all(token: string, query: string, limit: number): Promise<Summary[]> {
  const out: Summary[] = [];
  let cursor: string | null = null;
  do {
    const q = `?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`;
    const page = await list(token, q);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

const statusOf = async (token: string, id: string) => (await as(token, "GET", `/v1/jobs/${id}`)).json<JobStatus>();

async function ended(token: string, id: string): Promise<JobStatus> {
  return vi.waitFor(
    async () => {
      const s = await statusOf(token, id);
      if (["scheduled", "queued", "running"].includes(s.state)) throw new Error(`still ${s.state}`);
      return s;
    },
    { timeout: 20_000, interval: 50 },
  );
}

/** The Job object's env with its JOB_INDEX bound to an index that refuses every call (or the real one back). */
const indexDown = (stub: JobStub, down: boolean) =>
  runInDurableObject(stub, (instance: Job) => {
    const refusing = {
      getByName: () => ({
        upsert: async () => Promise.reject(new Error("index unavailable")),
        remove: async () => Promise.reject(new Error("index unavailable")),
      }),
    };
    Object.defineProperty(instance, "env", { value: down ? { ...env, JOB_INDEX: refusing } : env, configurable: true });
  });

/** The outbox's retry is due now. */
const retryDue = (stub: JobStub) =>
  runInDurableObject(stub, (_: Job, state) => {
    state.storage.sql.exec("UPDATE job SET idx_retry_at = ?", Date.now() - 1);
  });

const outbox = (stub: JobStub) =>
  runInDurableObject(stub, (_: Job, state) =>
    state.storage.sql
      .exec<{ acked: string | null; retryAt: number | null; failures: number }>(
        "SELECT idx_acked AS acked, idx_retry_at AS retryAt, idx_failures AS failures FROM job",
      )
      .one(),
  );

describe("GET /v1/jobs", () => {
  it("lists the caller's jobs newest first, filters by state, pages each one once, and shows no one else's", async () => {
    const token = `owner-${crypto.randomUUID()}`;
    const other = `other-${crypto.randomUUID()}`;
    expect(await list(token)).toEqual({ items: [], next: null });
    const runAt = new Date(Date.now() + 86_400_000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const later = i === 1 || i === 3 ? { runAt } : {};
      ids.push(await create(token, { type: "fanout", requests: [{ url: UP + path(`l${i}`) }], ...later }));
    }
    for (const id of [ids[0], ids[2], ids[4]] as string[]) await ended(token, id);
    const otherId = await create(other, { type: "webhook", url: UP + path("o"), payload: {} });

    const newestFirst = [...ids].reverse();
    const everything = await all(token, "", 2);
    expect(everything.map((j) => j.id)).toEqual(newestFirst);
    expect(everything[0]).toEqual({
      id: ids[4],
      type: "fanout",
      state: "succeeded",
      total: 1,
      createdAt: expect.any(String),
      endedAt: expect.any(String),
    });
    expect(everything[1]).toEqual({
      id: ids[3],
      type: "fanout",
      state: "scheduled",
      total: 1,
      createdAt: expect.any(String),
      runAt: new Date(runAt).toISOString(),
    });
    expect((await all(token, "&state=scheduled", 1)).map((j) => j.id)).toEqual([ids[3], ids[1]]);
    expect((await all(token, "&state=succeeded", 10)).map((j) => j.id)).toEqual([ids[4], ids[2], ids[0]]);
    expect(await all(token, "&state=running", 10)).toEqual([]);
    expect((await list(other)).items.map((j) => j.id)).toEqual([otherId]);
    // A cursor names a place in the caller's own list only: one made up from another owner's job shows nothing of it.
    const foreign = encodeListCursor(Date.now() + 60_000, otherId);
    expect((await list(token, `?cursor=${foreign}`)).items.map((j) => j.id)).toEqual(newestFirst);
  });

  it("refuses a limit above JOBS_LIST_PAGE_MAX, a cursor it did not give out and an unknown state (400)", async () => {
    const token = `refused-${crypto.randomUUID()}`;
    const max = settings(env).JOBS_LIST_PAGE_MAX;
    const over = await as(token, "GET", `/v1/jobs?limit=${max + 1}`);
    expect(over.status).toBe(400);
    expect(await over.json()).toMatchObject({ limit: "JOBS_LIST_PAGE_MAX", max });
    for (const query of [`?cursor=${btoa("r1:5")}`, "?cursor=%%%", "?state=sleeping", "?limit=0"]) {
      const res = await as(token, "GET", `/v1/jobs${query}`);
      expect(res.status, query).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("follows each job's state, and lets a job go when its retention deletes it", async () => {
    const token = `follow-${crypto.randomUUID()}`;
    const id = await create(token, { type: "fanout", requests: [{ url: UP + path("follow") }], delayMs: 60_000 });
    const stub = env.JOB.getByName(id);
    expect((await list(token)).items.map((j) => j.state)).toEqual(["scheduled"]);
    await runInDurableObject(stub, (_: Job, state) => {
      state.storage.sql.exec("UPDATE job SET run_at = ?", Date.now() - 1);
    });
    await runDurableObjectAlarm(stub);
    const done = await ended(token, id);
    await vi.waitFor(async () => expect((await list(token)).items.map((j) => j.state)).toEqual(["succeeded"]));
    expect((await list(token)).items[0]?.endedAt).toBe(done.updatedAt);

    await runInDurableObject(stub, (_: Job, state) => {
      state.storage.sql.exec("UPDATE job SET updated_at = updated_at - ?", RETENTION_MS);
    });
    await runDurableObjectAlarm(stub);
    expect((await as(token, "GET", `/v1/jobs/${id}`)).status).toBe(410);
    expect(await list(token)).toEqual({ items: [], next: null });
  });

  it("keeps a failed index update as an outbox entry: the job's alarm sends it until the index has it", async () => {
    const token = `outbox-${crypto.randomUUID()}`;
    const id = await create(token, { type: "fanout", requests: [{ url: UP + path("ob") }], delayMs: 600_000 });
    const stub = env.JOB.getByName(id);
    const runAt = Date.parse((await statusOf(token, id)).runAt ?? "");
    await indexDown(stub, true);
    const canceled = await as(token, "DELETE", `/v1/jobs/${id}`);
    expect(canceled.status).toBe(200);
    // The index still says what it last heard; the job knows it has not heard the rest, and when to try again.
    expect((await list(token)).items.map((j) => j.state)).toEqual(["scheduled"]);
    const pending = await outbox(stub);
    expect(pending).toMatchObject({ acked: `scheduled||`, failures: 1 });
    expect(pending.retryAt).toBeGreaterThan(Date.now() - 1_000);
    expect(pending.retryAt).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(await runInDurableObject(stub, (_: Job, state) => state.storage.getAlarm())).toBe(pending.retryAt);
    expect(pending.retryAt).toBeLessThan(runAt);

    // Still down at the retry: the next one waits longer.
    await retryDue(stub);
    await runDurableObjectAlarm(stub);
    const again = await outbox(stub);
    expect(again.failures).toBeGreaterThanOrEqual(2);
    expect(again.retryAt).toBeGreaterThan(Date.now() + 1_000);
    expect((await list(token)).items.map((j) => j.state)).toEqual(["scheduled"]);

    await indexDown(stub, false);
    await retryDue(stub);
    await runDurableObjectAlarm(stub);
    expect((await list(token)).items.map((j) => j.state)).toEqual(["canceled"]);
    expect(await outbox(stub)).toMatchObject({ retryAt: null, failures: 0 });
    // Nothing left to retry: the alarm is the end of the retention.
    const status = await statusOf(token, id);
    expect(await runInDurableObject(stub, (_: Job, state) => state.storage.getAlarm())).toBe(
      Date.parse(status.updatedAt) + RETENTION_MS,
    );
  });
});

describe("the JobIndex object", () => {
  const entry = (id: string, over: Partial<JobIndexEntry> = {}): JobIndexEntry => ({
    id,
    type: "fanout",
    state: "queued",
    total: 1,
    createdAt: 1_000,
    runAt: null,
    endedAt: null,
    expiresAt: null,
    version: 1,
    ...over,
  });
  const hex = (n: number) => n.toString(16).padStart(32, "0");

  it("applies only a newer version of a job's row: a late, older update changes nothing", async () => {
    const index = env.JOB_INDEX.getByName(`index-${crypto.randomUUID()}`);
    await index.upsert(entry(hex(1), { state: "succeeded", version: 3, endedAt: 2_000 }));
    await index.upsert(entry(hex(1), { state: "running", version: 2 }));
    expect((await index.list(null, null, 10)).items).toMatchObject([{ id: hex(1), state: "succeeded", version: 3 }]);
    await index.upsert(entry(hex(1), { state: "running", version: 4 }));
    expect((await index.list(null, null, 10)).items).toMatchObject([{ state: "running", version: 4 }]);
  });

  it("keeps the newest JOBS_LIST_MAX rows and drops a row at its expiry by its own alarm", async () => {
    const index = env.JOB_INDEX.getByName(`bounded-${crypto.randomUUID()}`);
    await runInDurableObject(index, (instance: JobIndex) => {
      Object.defineProperty(instance, "env", { value: { ...env, JOBS_LIST_MAX: "3" }, configurable: true });
    });
    for (let i = 1; i <= 5; i++) await index.upsert(entry(hex(i), { createdAt: 1_000 + i }));
    expect((await index.list(null, null, 10)).items.map((e) => e.id)).toEqual([hex(5), hex(4), hex(3)]);
    // An update of a row still held is no new row.
    await index.upsert(entry(hex(3), { state: "running", version: 2 }));
    expect((await index.list(null, null, 10)).items.map((e) => e.id)).toEqual([hex(5), hex(4), hex(3)]);

    const now = Date.now();
    await index.upsert(entry(hex(5), { state: "failed", endedAt: now, expiresAt: now + 3_600_000, version: 2 }));
    expect(await runInDurableObject(index, (_: JobIndex, state) => state.storage.getAlarm())).toBe(now + 3_600_000);
    // Past its expiry (its job's removal never came): the index's alarm rings at once and drops it.
    await index.upsert(entry(hex(4), { state: "failed", endedAt: now, expiresAt: now - 1, version: 2 }));
    await vi.waitFor(async () =>
      expect((await index.list(null, null, 10)).items.map((e) => e.id)).toEqual([hex(5), hex(3)]),
    );
    expect(await runInDurableObject(index, (_: JobIndex, state) => state.storage.getAlarm())).toBe(now + 3_600_000);
    await index.remove(hex(3));
    await index.remove(hex(3));
    expect((await index.list(null, null, 10)).items.map((e) => e.id)).toEqual([hex(5)]);
  });
});
