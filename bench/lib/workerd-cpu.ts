/**
 * The CPU a server started through Miniflare spends: its workerd process is the child that appeared while it
 * started. On 2 shared cores a run's wall time is noisy; the CPU workerd spends on the same work much less so.
 */
import { childPids, cpuMs } from "./cpu.ts";

/**
 * Start a server and find its workerd process.
 *
 * @example
 * const worker = await withWorkerdCpu(() => startMiniflare(bundle));
 * const before = worker.cpuMs(); // …load… worker.cpuMs() - before
 */
export async function withWorkerdCpu<T>(start: () => Promise<T>): Promise<T & { cpuMs: () => number }> {
  const before = new Set(childPids("workerd"));
  const server = await start();
  const pid = childPids("workerd").find((p) => !before.has(p));
  return Object.assign(server as T & object, { cpuMs: () => (pid === undefined ? Number.NaN : cpuMs(pid)) });
}
