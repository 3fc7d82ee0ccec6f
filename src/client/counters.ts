/**
 * `client.counter(name)`: an atomic integer shared by every client: read, increment within bounds, compare-and-set,
 * reset; writes (and reads) fenced by a lock's lease so a holder whose lease expired cannot overwrite its successor;
 * a hot counter spread over shards.
 */
import type { Transport } from "./http.js";
import { seg } from "./http.js";
import type {
  CounterFenceQuery,
  CounterIncrementInput,
  CounterSetInput,
  CounterShards,
  CounterShardsInput,
  CounterValue,
  Fence,
} from "./types.js";

/** A fence: the `fence` of a lock grant, or the lock's lease itself. */
export type FenceLike = Fence | { readonly fence: Fence | undefined };

function fenceOf(given: FenceLike | undefined): Fence | undefined {
  if (given === undefined) return undefined;
  if ("sig" in given) return given;
  if (given.fence) return given.fence;
  throw new TypeError("this lease carries no fence: the service signs fencing tokens only with FENCE_SECRET set");
}

export class CounterClient {
  readonly name: string;
  readonly #transport: Transport;
  readonly #path: string;

  constructor(transport: Transport, name: string) {
    this.#transport = transport;
    this.name = name;
    this.#path = `/v1/counters/${seg(name)}`;
  }

  /**
   * The value (0 and `updatedAt: null` if never written). With a fence, a fenced read: it shuts out holders of older
   * tokens of that lock, as a fenced write does.
   *
   * @example
   * const { value } = await client.counter("orders").get();
   */
  get(options: { fence?: FenceLike; signal?: AbortSignal } = {}): Promise<CounterValue> {
    const fence = fenceOf(options.fence);
    // Each key is one the fenced-read query takes (a renamed one fails to compile).
    const query = fence
      ? ({ lock: fence.lock, token: fence.token, sig: fence.sig } satisfies Record<keyof CounterFenceQuery, unknown>)
      : {};
    return this.#transport.json<CounterValue>(this.#path, { query, signal: options.signal });
  }

  /**
   * Add `by` (default 1) atomically; with `min`/`max`, an increment that would cross them is refused (409
   * `counter-out-of-bounds`) and changes nothing.
   *
   * @example
   * await client.counter("stock").increment(-1, { min: 0 });
   * await client.counter("invoices").increment(1, { fence: lease }); // lease: a held lock's lease
   */
  increment(
    by = 1,
    options: { min?: number; max?: number; fence?: FenceLike; signal?: AbortSignal } = {},
  ): Promise<CounterValue> {
    const { min, max, signal } = options;
    return this.#transport.json<CounterValue>(`${this.#path}/increment`, {
      json: { by, min, max, fence: fenceOf(options.fence) } satisfies CounterIncrementInput,
      signal,
    });
  }

  /**
   * Set the value; with `ifValue`, only if the counter holds that value (compare-and-set: 409 `counter-mismatch`,
   * whose `problem.value` is the current one).
   *
   * @example
   * await client.counter("orders").set(10, { ifValue: 7 });
   */
  set(
    value: number,
    options: { ifValue?: number; fence?: FenceLike; signal?: AbortSignal } = {},
  ): Promise<CounterValue> {
    return this.#transport.json<CounterValue>(this.#path, {
      method: "PUT",
      json: { value, ifValue: options.ifValue, fence: fenceOf(options.fence) } satisfies CounterSetInput,
      signal: options.signal,
      // Applied once, a compare-and-set sent again would find its own value and answer a mismatch.
      idempotent: options.ifValue === undefined,
    });
  }

  /**
   * Spread the counter's increments over `shards` objects, once, before its first write (409 `counter-shards-set`
   * for another count, `counter-written` once written). A sharded counter refuses bounds, compare-and-set and fences
   * (409 `counter-sharded`); an increment's `value` is then its shard's, and `get()` sums the shards.
   *
   * @example
   * await client.counter("page-views").setShards(8);
   */
  setShards(shards: number, options: { signal?: AbortSignal } = {}): Promise<CounterShards> {
    return this.#transport.json<CounterShards>(`${this.#path}/shards`, {
      method: "PUT",
      json: { shards } satisfies CounterShardsInput,
      signal: options.signal,
    });
  }

  /** Reset to 0, every shard (the fencing tokens seen and the shard count are kept). */
  reset(options: { signal?: AbortSignal } = {}): Promise<CounterValue> {
    return this.#transport.json<CounterValue>(this.#path, { method: "DELETE", signal: options.signal });
  }
}
