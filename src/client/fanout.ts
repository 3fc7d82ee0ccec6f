/**
 * `client.fanout`: many upstream calls as one (`asyncio.gather(return_exceptions=True)` with `wait_for`, a
 * `Semaphore`, retries): `fanout(requests, options)` answers every result at once, `fanout.stream(...)` yields each
 * as it settles (`as_completed`), over NDJSON. Leaving the loop early, or the caller's signal, aborts the request.
 */
import { anySignal } from "../async/deadline.js";
import { IDEMPOTENT_METHODS, type Transport } from "./http.js";
import { SummarizedStream } from "./ndjson.js";
import type { FanoutOptions, FanoutRequest, FanoutResult, FanoutSummary } from "./types.js";

/** A list of requests (results in the same order), or requests keyed by name (results keyed alike). */
export type FanoutRequests = readonly FanoutRequest[] | Readonly<Record<string, FanoutRequest>>;

export interface FanoutCallOptions extends FanoutOptions {
  /** Aborts the request: the service aborts every call still running (`error.kind: "aborted"`). */
  signal?: AbortSignal;
}

/** The results shaped like the requests: a list, or an object with the same keys. */
export type FanoutResults<R extends FanoutRequests> = R extends readonly FanoutRequest[]
  ? FanoutResult[]
  : { [K in keyof R]: FanoutResult };

export interface FanoutAnswer<R extends FanoutRequests> {
  results: FanoutResults<R>;
  summary: FanoutSummary;
}

/** The results of a streamed fan-out in completion order; `summary` once the stream was read to its end. */
export type FanoutStream = SummarizedStream<FanoutResult, FanoutSummary>;

export interface Fanout {
  /**
   * Run every request; the results in request order (or keyed like the requests), and a summary.
   *
   * @example
   * const { results, summary } = await client.fanout(
   *   [{ url: "https://example.com/a" }, { url: "https://example.com/b", timeoutMs: 2_000 }],
   *   { concurrency: 6, deadlineMs: 10_000, retry: { attempts: 3 } },
   * );
   */
  <R extends FanoutRequests>(requests: R, options?: FanoutCallOptions): Promise<FanoutAnswer<R>>;
  /**
   * The results as each call settles (`as_completed`). The request starts with the iteration; `break` (or the
   * signal) aborts it, and with it every call the service still runs.
   *
   * @example
   * for await (const result of client.fanout.stream(urls.map((url) => ({ url })), { concurrency: 10 })) {
   *   if (result.ok) { found = result; break; } // the other calls are aborted
   * }
   */
  stream(requests: FanoutRequests, options?: FanoutCallOptions): FanoutStream;
}

/** A fan-out is as idempotent as its requests: sent again after a 503, it may send each of them again. */
const idempotent = (requests: FanoutRequests): boolean =>
  Object.values(requests).every(
    (r: FanoutRequest) => r.idempotent === true || IDEMPOTENT_METHODS.has((r.method ?? "GET").toUpperCase()),
  );

export function createFanout(transport: Transport): Fanout {
  const call = async <R extends FanoutRequests>(requests: R, options: FanoutCallOptions = {}) => {
    const { signal, ...rest } = options;
    return transport.json<FanoutAnswer<R>>("/v1/fanout", {
      json: { ...rest, requests },
      signal,
      idempotent: idempotent(requests),
    });
  };
  const stream = (requests: FanoutRequests, options: FanoutCallOptions = {}) => {
    const { signal, ...rest } = options;
    return new SummarizedStream<FanoutResult, FanoutSummary>((stop) =>
      transport.send("/v1/fanout", {
        json: { ...rest, requests },
        accept: "application/x-ndjson",
        signal: anySignal([signal, stop]),
        idempotent: idempotent(requests),
      }),
    );
  };
  return Object.assign(call, { stream });
}
