/**
 * Shared helpers of the schedules tests: calls to the worker (with another token or other settings when asked), the
 * Schedule object of a name, and the storage edits that stand in for time passing: a fire time set into the past
 * (as if the service had been down until now), a run left behind by an alarm cut short.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { Schedule } from "../../src/schedules/schedule";
import { type Answer, call as callWorker } from "../helpers/api";

export const TOKEN = "test-token";

/** The owner of a token's schedules: the SHA-256 of the token, in hex (callerScope). */
export async function ownerOf(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export const OWNER = await ownerOf(TOKEN);

export type ScheduleStub = DurableObjectStub<Schedule>;
export const stubOf = (name: string, owner = OWNER): ScheduleStub => env.SCHEDULE.getByName(`${owner}:${name}`);

/**
 * Call the worker as a client does. `as.token` sends another bearer token (and makes it the API token), `as.vars`
 * runs the route with other settings (the objects keep the test bindings).
 */
export function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  as: { token?: string; vars?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const token = as.token ?? TOKEN;
  return callWorker<T>(method, path, body, {
    headers: { authorization: `Bearer ${token}`, ...as.headers },
    vars: { API_TOKEN: token, ...as.vars },
  });
}

/** A six-field cron that fires once a year, at the whole second of `ms` (UTC). */
export function yearlyAt(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`;
}

/** A whole second `ms` before now. */
export const secondsAgo = (ms: number) => Math.floor((Date.now() - ms) / 1_000) * 1_000;

/** Make the schedule's alarm be for fire time `at` (in the past: as if the service had been down since). */
export const armedFor = (stub: ScheduleStub, at: number) =>
  runInDurableObject(stub, (_instance: Schedule, state) => {
    state.storage.sql.exec("UPDATE schedule SET next_at = ?", at);
  });

/** A run row as an earlier alarm would have left it. */
export const seedRun = (stub: ScheduleStub, fireAt: number, state: string, jobId: string | null = null) =>
  runInDurableObject(stub, (_instance: Schedule, s) => {
    s.storage.sql.exec("INSERT OR REPLACE INTO runs (fire_at, state, job_id) VALUES (?, ?, ?)", fireAt, state, jobId);
  });

export const dropRun = (stub: ScheduleStub, fireAt: number) =>
  runInDurableObject(stub, (_instance: Schedule, s) => {
    s.storage.sql.exec("DELETE FROM runs WHERE fire_at = ?", fireAt);
  });

export const alarmOf = (stub: ScheduleStub) =>
  runInDurableObject(stub, (_instance: Schedule, state) => state.storage.getAlarm());

/** The tables the object holds (none once it has deleted its storage, or never had a schedule). */
export const tablesOf = (stub: ScheduleStub) =>
  runInDurableObject(stub, (_instance: Schedule, state) =>
    state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'",
      )
      .toArray()
      .map((r) => r.name),
  );

/** Run this schedule's object with other bindings (its own env: `settings()` parses it afresh). */
export const withEnv = (stub: ScheduleStub, extra: Record<string, unknown>) =>
  runInDurableObject(stub, (instance: Schedule) => {
    Object.defineProperty(instance, "env", { value: { ...env, ...extra }, configurable: true });
  });

/** POST /v1/jobs under a fresh Idempotency-Key; the job's id. */
export async function postJob(body: unknown): Promise<string> {
  const res = await call<{ id: string }>("POST", "/v1/jobs", body, {
    headers: { "idempotency-key": crypto.randomUUID() },
  });
  if (res.status !== 202) throw new Error(`POST /v1/jobs: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

export interface JobStatusBody {
  id: string;
  state: string;
  attempts: number;
  createdAt: string;
}

/** Wait for job `id` to end (the queue consumer runs it in this process). */
export function jobEnded(id: string): Promise<JobStatusBody> {
  return vi.waitFor(
    async () => {
      const { body } = await call<JobStatusBody>("GET", `/v1/jobs/${id}`);
      if (!["succeeded", "partial", "failed", "canceled"].includes(body.state)) throw new Error(`still ${body.state}`);
      return body;
    },
    { timeout: 20_000, interval: 50 },
  );
}
