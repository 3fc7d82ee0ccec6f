/**
 * The e2e harness: `useWorker(vars)` serves the bundle built once by the e2e global setup (test/setup/e2e-bundle.ts)
 * on Miniflare for the calling test file (started in beforeAll, stopped in afterAll), and gives the file its URL
 * and an authed `api()` fetch.
 */
import { afterAll, beforeAll, inject } from "vitest";
import { type RunningWorker, startMiniflare } from "../../../scripts/lib/worker.ts";

export interface ApiInit extends RequestInit {
  /** Sent as the JSON body, with `content-type: application/json`. */
  json?: unknown;
}

export interface E2EWorker {
  /** Base URL of the running worker, e.g. http://127.0.0.1:41234 (only once beforeAll has run). */
  readonly url: string;
  /** The bearer token the worker accepts. */
  readonly token: string;
  /** `fetch(url + path)` with `Authorization: Bearer <token>` (and a JSON body if `json` is given). */
  api(path: string, init?: ApiInit): Promise<Response>;
}

/**
 * Serve the built worker for this test file; `vars` override wrangler.toml [vars].
 *
 * @example
 * const worker = useWorker({ FANOUT_ALLOW_HOSTS: "127.0.0.1" });
 * it("answers", async () => {
 *   const res = await worker.api("/v1/counters/c/increment", { method: "POST", json: { by: 2 } });
 * });
 */
export function useWorker(vars: Record<string, string> = {}, options: { assets?: boolean } = {}): E2EWorker {
  let running: RunningWorker | undefined;
  beforeAll(async () => {
    running = await startMiniflare(inject("e2eBundle"), vars, options);
  }, 60_000);
  afterAll(async () => {
    await running?.stop();
  });
  const current = (): RunningWorker => {
    if (!running) throw new Error("the worker is not running: useWorker() starts it in beforeAll");
    return running;
  };
  return {
    get url() {
      return current().url;
    },
    get token() {
      return current().token;
    },
    api(path, { json, headers, ...init } = {}) {
      const { url, token } = current();
      const all = new Headers(headers);
      all.set("authorization", `Bearer ${token}`);
      if (json !== undefined) all.set("content-type", "application/json");
      return fetch(`${url}${path}`, {
        ...init,
        headers: all,
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
    },
  };
}
