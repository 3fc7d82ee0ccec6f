/**
 * `client.flow(key)`: a flow-control key (docs/flow.md), the limits every call under it shares across jobs, fan-outs
 * and crawls. Its state (calls in flight and waiting, the rate used, the limits in force, paused), and pause/resume.
 * The key itself is taken by `flow: { key, parallelism, rate }` on `client.fanout`, `client.pages` and
 * `client.jobs.create`.
 */
import type { Transport } from "./http.js";
import { seg } from "./http.js";
import type { FlowStatus } from "./types.js";

export class FlowClient {
  readonly key: string;
  readonly #transport: Transport;

  constructor(transport: Transport, key: string) {
    this.#transport = transport;
    this.key = key;
  }

  /**
   * @example
   * const { inFlight, waiting, rateUsed, paused } = await client.flow("crm-api").status();
   */
  status(): Promise<FlowStatus> {
    return this.#transport.json<FlowStatus>(`/v1/flow/${seg(this.key)}`);
  }

  /**
   * Start no more calls under the key: those in flight end, the others wait (fan-outs within their deadline, job
   * chunks deferred) until `resume()`.
   *
   * @example
   * await client.flow("crm-api").pause();
   */
  pause(): Promise<FlowStatus> {
    return this.#transport.json<FlowStatus>(`/v1/flow/${seg(this.key)}/pause`, { method: "POST" });
  }

  /** Start calls under the key again, those waiting first. */
  resume(): Promise<FlowStatus> {
    return this.#transport.json<FlowStatus>(`/v1/flow/${seg(this.key)}/resume`, { method: "POST" });
  }
}
