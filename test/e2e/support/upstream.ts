/**
 * A loopback upstream for one e2e test file, started in beforeAll and closed in afterAll, as `useWorker` serves the
 * worker: the file declares it once at the top instead of its own hooks.
 */
import { afterAll, beforeAll } from "vitest";

/**
 * Start `start()` for this test file (beforeAll) and close it after (afterAll). The answer stands for the started
 * upstream: read its fields (`url`, its counters) in hooks and tests, once beforeAll has run. Call it before
 * `useWorker`: the upstream starts first and closes last (after-hooks run in reverse).
 *
 * @example
 * const upstream = useUpstream(startJobsUpstream);
 * const worker = useWorker({ FANOUT_ALLOW_HOSTS: "127.0.0.1" });
 * it("calls it", async () => {
 *   await worker.api("/v1/fanout", { method: "POST", json: { requests: [{ url: `${upstream.url}/a` }] } });
 * });
 */
export function useUpstream<T extends { close(): Promise<void> }>(start: () => Promise<T>): T {
  let running: T | undefined;
  beforeAll(async () => {
    running = await start();
  });
  afterAll(async () => {
    await running?.close();
  });
  return new Proxy({} as T, {
    get(_, key) {
      if (!running) throw new Error("the upstream is not running: useUpstream() starts it in beforeAll");
      const value: unknown = Reflect.get(running, key);
      return typeof value === "function" ? value.bind(running) : value;
    },
  });
}
