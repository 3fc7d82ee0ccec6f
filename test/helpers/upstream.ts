/**
 * Helpers for tests that call the loopback upstream started by test/setup/upstream.ts.
 */
import { inject } from "vitest";
import type { GateStats, KeyStats } from "../../bench/lib/upstream";

export const UPSTREAM = inject("upstream");

/** A fresh key, so each test counts only its own requests. */
export const newKey = (): string => crypto.randomUUID();

/** An upstream URL with these query parameters. */
export function up(params: Record<string, string | number> = {}, base = UPSTREAM): string {
  const url = new URL("/r", base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return url.href;
}

export async function stats(key: string, base = UPSTREAM): Promise<KeyStats> {
  return (await fetch(`${base}/__stats?key=${encodeURIComponent(key)}`)).json();
}

/**
 * Poll the upstream's counters until `check` passes: the server sees a hang-up a moment after the worker aborts,
 * over a real socket. Fails with the last counters after `ms`.
 */
export async function statsWhen(key: string, check: (s: KeyStats) => boolean, ms = 3_000): Promise<KeyStats> {
  const until = Date.now() + ms;
  let last = await stats(key);
  while (!check(last) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    last = await stats(key);
  }
  return last;
}

/**
 * A fresh gate on the upstream: requests whose URL carries `?gate=<name>` (`up({ gate: g.name })`) are held until
 * the test calls `open()`, so the test, not a latency, decides the order in which answers arrive. `name` picks the
 * name, for the per-page gates of GET /pages (`gate=<base>-{page}` holds page 3 at the gate `<base>-3`).
 */
export function newGate(base = UPSTREAM, name: string = crypto.randomUUID()) {
  const at = `${base}/__gates/${name}`;
  return {
    name,
    /** Release what is held, and let every later request through at once. */
    async open(): Promise<GateStats & { freed: number }> {
      return (await fetch(`${at}/open`, { method: "POST" })).json();
    },
    /** The gate's counters once `count` requests wait at it (or as they are after `timeoutMs`). */
    async waiting(count: number, timeoutMs = 4_000): Promise<GateStats> {
      return (await fetch(`${at}?waiting=${count}&timeoutMs=${timeoutMs}`)).json();
    },
  };
}
