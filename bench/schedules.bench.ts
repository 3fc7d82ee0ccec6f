/**
 * Schedules: what a fire costs. Every-second schedules (SCHEDULES_MIN_INTERVAL_SECONDS=1) fire by their own alarms
 * in Miniflare; for each run, the time from its fire time to its job's creation (the Job object's `createdAt`):
 * the alarm's lateness, the Schedule object's decision and the job's creation through `createJob`. Beside it, in the
 * same run, the same one-URL job created by a client with POST /v1/jobs: from the request sent to the job's
 * `createdAt` (HTTP, auth, validation, the same `createJob`), and the whole round trip.
 *
 * One schedule alone, then 10 firing at the same second. Both clocks are this machine's.
 */
import { startMiniflare } from "../scripts/lib/worker.ts";
import { median, percentile, round } from "./lib/stats.ts";
import { startUpstream } from "./lib/upstream.ts";
import type { BenchContext } from "./run.ts";

const POSTS = 50;
const FIRES = 20;

interface Run {
  fireAt: string;
  state: string;
  jobId?: string;
}

export default async function schedules(ctx: BenchContext): Promise<string[]> {
  const upstream = await startUpstream();
  const worker = await startMiniflare(ctx.bundle, {
    FANOUT_ALLOW_HOSTS: "127.0.0.1",
    SCHEDULES_MIN_INTERVAL_SECONDS: "1",
  });
  const headers = { authorization: `Bearer ${worker.token}`, "content-type": "application/json" };
  const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${worker.url}${path}`, { ...init, headers: { ...headers, ...init.headers } });
    if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const job = (i: number | string) => ({ type: "fanout", requests: [{ url: `${upstream.url}/r?key=bench-${i}` }] });
  const createdAt = async (id: string) => Date.parse((await api<{ createdAt: string }>(`/v1/jobs/${id}`)).createdAt);

  try {
    // Warm-up: the first job and the first schedule start their objects and the consumer.
    await post("warm");
    await fireLags(1, 2);

    const toCreated: number[] = [];
    const roundTrip: number[] = [];
    for (let i = 0; i < POSTS; i++) {
      const sent = Date.now();
      const started = performance.now();
      const id = await post(i);
      roundTrip.push(performance.now() - started);
      toCreated.push((await createdAt(id)) - sent);
    }

    const one = await fireLags(1, FIRES);
    const ten = await fireLags(10, FIRES / 2);

    const row = (label: string, v: number[]) =>
      `| ${label} | ${v.length} | ${round(median(v), 1)} | ${round(percentile(v, 95), 1)} | ${round(Math.max(...v), 1)} |`;
    return [
      "Every-second schedules with a one-URL fan-out job; the job's creation as the Job object stamps it (`createdAt`).",
      "",
      "| from → to, ms | samples | median | p95 | max |",
      "| --- | ---: | ---: | ---: | ---: |",
      row("POST /v1/jobs sent → job created", toCreated),
      row("POST /v1/jobs round trip", roundTrip),
      row("fire time → job created, 1 schedule", one.lags),
      row("fire time → job created, 10 schedules at once", ten.lags),
      "",
      `Fire (1 schedule) / POST, medians: ${round(median(one.lags) / median(toCreated))}. Runs not created (skipped, missed, ` +
        `failed): ${one.other + ten.other} of ${one.lags.length + ten.lags.length + one.other + ten.other}.`,
    ];
  } finally {
    await worker.stop();
    await upstream.close();
  }

  async function post(i: number | string): Promise<string> {
    const body = JSON.stringify(job(i));
    const init = { method: "POST", body, headers: { "idempotency-key": `bench-${crypto.randomUUID()}` } };
    return (await api<{ id: string }>("/v1/jobs", init)).id;
  }

  /** `count` schedules firing every second until each has `fires` runs; the fire-to-created lag of each job. */
  async function fireLags(count: number, fires: number): Promise<{ lags: number[]; other: number }> {
    const names = Array.from({ length: count }, () => `bench-${crypto.randomUUID().slice(0, 8)}`);
    for (const name of names) {
      const body = JSON.stringify({ name, cron: "* * * * * *", job: job(name), overlap: "allow" });
      await api("/v1/schedules", { method: "POST", body });
    }
    const runs: Run[] = [];
    for (const name of names) {
      let got: Run[] = [];
      while (got.length < fires) {
        await new Promise((r) => setTimeout(r, 250));
        got = (await api<{ runs: Run[] }>(`/v1/schedules/${name}`)).runs;
      }
      await api(`/v1/schedules/${name}`, { method: "DELETE" });
      runs.push(...got);
    }
    const created = runs.filter((r) => r.state === "created" && r.jobId);
    const lags = await Promise.all(
      created.map(async (r) => (await createdAt(r.jobId as string)) - Date.parse(r.fireAt)),
    );
    return { lags, other: runs.length - created.length };
  }
}
