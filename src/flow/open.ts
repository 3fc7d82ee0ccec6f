/**
 * How the routes and the jobs consumer use a flow key: the object that holds it (one per caller and key), the bound
 * a `flow` option must respect, and a gate for one fan-out, crawl or job chunk, closed when it is done.
 */
import { overLimit } from "../http/problem";
import { settings } from "../settings";
import { FlowGate } from "./gate";
import type { FlowSpec } from "./schema";

/** The Flow object's name: keys are the caller's own (`owner`: its scope), so two tokens never share one. */
export const flowName = (owner: string, key: string): string => `${owner}:flow:${key}`;

/** Why `flow` may not be used under the settings (a parallelism above FLOW_MAX_PARALLELISM), or null. */
export function flowBreach(flow: FlowSpec | undefined, env: object): string | null {
  const max = settings(env).FLOW_MAX_PARALLELISM;
  if (flow?.parallelism === undefined || flow.parallelism <= max) return null;
  return `flow.parallelism ${flow.parallelism} is above FLOW_MAX_PARALLELISM (${max}).`;
}

/** Throw the 400 for a `flow` the settings refuse (FLOW_MAX_PARALLELISM), before anything runs. */
export function checkFlow(flow: FlowSpec | undefined, env: object): void {
  const breach = flowBreach(flow, env);
  if (breach) throw overLimit("FLOW_MAX_PARALLELISM", settings(env).FLOW_MAX_PARALLELISM, breach);
}

/**
 * A gate on `flow`'s key for one holder: `max` permits at most (its concurrency); each ask waits `waitMs()` in the
 * key's line; a job chunk's gate refuses its calls once an ask got nothing (FLOW_JOB_WAIT_MS).
 *
 * @example
 * const gate = flowGate(c.env, ownerOf(c), flow, { holder: "fanout", max: 6, waitMs: () => deadlineAt - Date.now() });
 * try { await fanoutAll(items, options, { ...ctx, gate }) } finally { await gate.close() }
 */
export function flowGate(
  env: Env,
  owner: string,
  flow: FlowSpec,
  o: { holder: string; max: number; waitMs: () => number; job?: boolean },
): FlowGate {
  const s = settings(env);
  return new FlowGate({
    stub: env.FLOW.getByName(flowName(owner, flow.key)),
    key: flow.key,
    holder: o.holder,
    limits: { parallelism: flow.parallelism ?? null, rate: flow.rate ?? null },
    max: o.max,
    ttlMs: s.FLOW_LEASE_TTL_MS,
    waitMs: o.job ? () => Math.min(s.FLOW_JOB_WAIT_MS, o.waitMs()) : o.waitMs,
    refuseWhenRefused: o.job,
    maxParallelism: s.FLOW_MAX_PARALLELISM,
    maxWaiters: s.LEASE_MAX_WAITERS,
  });
}

/** `results`, closing `gate` (its permits given back) when they end or the reader stops. */
export async function* closing<T, R>(results: AsyncGenerator<T, R, undefined>, gate: FlowGate | undefined) {
  try {
    return yield* results;
  } finally {
    await gate?.close();
  }
}
