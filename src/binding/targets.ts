/**
 * The RPC surface of each family, as `RpcTarget`s the entrypoint hands out (`env.EDGELOOP.counter("orders")`), with
 * the typed client's method names. Each method is one HTTP operation (call.ts): it takes what that operation's body or
 * query takes, answers the same JSON, and throws its refusal (protocol.ts). Leases are plain grants here: renew and
 * release them with the grant; `await using` leases that renew themselves are the typed client's, over the binding's
 * `fetch` (`createClient({ binding })`).
 */
import { RpcTarget } from "cloudflare:workers";
import { type CallInit, call, json, type Send } from "./call";

type Json = Record<string, unknown>;
/** A lock's signed fencing token, as a lock grant's `fence` carries it. */
export type Fence = { lock: string; token: number; sig: string };

const seg = encodeURIComponent;

/** The calls of one resource: `at("/increment", …)` is a call of `<base>/increment`. */
const resource =
  (send: Send, base: string) =>
  <T = Json>(suffix: string, init?: CallInit): Promise<T> =>
    json<T>(send, `${base}${suffix}`, init);

type At = ReturnType<typeof resource>;

export class CounterTarget extends RpcTarget {
  readonly #at: At;
  constructor(send: Send, name: string) {
    super();
    this.#at = resource(send, `/v1/counters/${seg(name)}`);
  }
  /** The value; with a fence, a fenced read. */
  get(fence?: Fence) {
    return this.#at("", { query: fence && { lock: fence.lock, token: fence.token, sig: fence.sig } });
  }
  /** Add `by` atomically, within `min`/`max`; fenced by a lock grant's `fence`. */
  increment(by = 1, options: { min?: number; max?: number; fence?: Fence } = {}) {
    return this.#at("/increment", { json: { by, ...options } });
  }
  /** Set the value; compare-and-set with `ifValue`. */
  set(value: number, options: { ifValue?: number; fence?: Fence } = {}) {
    return this.#at("", { method: "PUT", json: { value, ...options } });
  }
  setShards(shards: number) {
    return this.#at("/shards", { method: "PUT", json: { shards } });
  }
  reset() {
    return this.#at("", { method: "DELETE" });
  }
}

/** A lock or a semaphore: acquire answers the grant; renew and release take it back. */
class LeasedTarget extends RpcTarget {
  readonly #at: At;
  readonly #extra: Json;
  readonly #holder: "owner" | "holder";
  constructor(at: At, holder: "owner" | "holder", extra: Json = {}) {
    super();
    this.#at = at;
    this.#holder = holder;
    this.#extra = extra;
  }
  /** Acquire, waiting in FIFO order up to `waitMs` (default 0: refused at once when taken). */
  acquire(options: { owner?: string; holder?: string; permits?: number; ttlMs?: number; waitMs?: number } = {}) {
    const who = options[this.#holder] ?? crypto.randomUUID();
    return this.#at("/acquire", { json: { ttlMs: 30_000, ...options, ...this.#extra, [this.#holder]: who } });
  }
  /** Extend the lease of `grant` (what acquire answered) by `ttlMs`. */
  renew(grant: { owner?: string; holder?: string; token?: number; leaseId?: string }, ttlMs = 30_000) {
    return this.#at("/renew", { json: { ...this.#leaseOf(grant), ttlMs } });
  }
  /** Give the lease of `grant` back. */
  release(grant: { owner?: string; holder?: string; token?: number; leaseId?: string }) {
    return this.#at("/release", { json: this.#leaseOf(grant) });
  }
  status() {
    return this.#at("");
  }
  #leaseOf(grant: { owner?: string; holder?: string; token?: number; leaseId?: string }) {
    return this.#holder === "owner"
      ? { owner: grant.owner, token: grant.token }
      : { leaseId: grant.leaseId, holder: grant.holder };
  }
}

export class LockTarget extends LeasedTarget {
  constructor(send: Send, name: string) {
    super(resource(send, `/v1/locks/${seg(name)}`), "owner");
  }
}

export class SemaphoreTarget extends LeasedTarget {
  constructor(send: Send, name: string, limit: number) {
    super(resource(send, `/v1/semaphores/${seg(name)}`), "holder", { limit });
  }
}

export class RateLimitTarget extends RpcTarget {
  readonly #at: At;
  readonly #limits: Json;
  constructor(send: Send, key: string, limits: { limit: number; periodMs: number; burst?: number }) {
    super();
    this.#at = resource(send, `/v1/ratelimits/${seg(key)}`);
    this.#limits = limits;
  }
  /** Take `cost` units if the limit allows them now (a refusal is `allowed: false`, not an error). */
  take(cost = 1) {
    return this.#at("", { json: { ...this.#limits, cost } });
  }
}

export class JobsTarget extends RpcTarget {
  readonly #send: Send;
  readonly #at: At;
  constructor(send: Send) {
    super();
    this.#send = send;
    this.#at = resource(send, "/v1/jobs");
  }
  /** Create a job, idempotent by `idempotencyKey` (made up and answered when not given). */
  async create(spec: Json, options: { idempotencyKey?: string } = {}) {
    const idempotencyKey = options.idempotencyKey ?? crypto.randomUUID();
    const res = await call(this.#send, "/v1/jobs", { json: spec, headers: { "idempotency-key": idempotencyKey } });
    return { ...(await res.json<Json>()), idempotencyKey, replayed: res.headers.get("idempotent-replayed") === "true" };
  }
  get(id: string) {
    return this.#at(`/${seg(id)}`);
  }
  /** A page of the caller's jobs, newest first; `next` is the cursor of the page after it. */
  list(options: { state?: string; limit?: number; cursor?: string } = {}) {
    return this.#at("", { query: options });
  }
  /** A page of a job's results in request order. */
  results(id: string, options: { limit?: number; cursor?: string } = {}) {
    return this.#at(`/${seg(id)}/results`, { query: options });
  }
  cancel(id: string) {
    return this.#at(`/${seg(id)}`, { method: "DELETE" });
  }
  retry(id: string) {
    return this.#at(`/${seg(id)}/retry`, { method: "POST" });
  }
}

export class SchedulesTarget extends RpcTarget {
  readonly #at: At;
  constructor(send: Send) {
    super();
    this.#at = resource(send, "/v1/schedules");
  }
  create(spec: Json) {
    return this.#at("", { json: spec });
  }
  get(name: string, options: { next?: number } = {}) {
    return this.#at(`/${seg(name)}`, { query: options });
  }
  list(options: { limit?: number; cursor?: string } = {}) {
    return this.#at("", { query: options });
  }
  pause(name: string) {
    return this.#at(`/${seg(name)}/pause`, { method: "POST" });
  }
  resume(name: string) {
    return this.#at(`/${seg(name)}/resume`, { method: "POST" });
  }
  delete(name: string) {
    return this.#at(`/${seg(name)}`, { method: "DELETE" });
  }
}

export class FlowTarget extends RpcTarget {
  readonly #at: At;
  constructor(send: Send, key: string) {
    super();
    this.#at = resource(send, `/v1/flow/${seg(key)}`);
  }
  get() {
    return this.#at("");
  }
  pause() {
    return this.#at("/pause", { method: "POST" });
  }
  resume() {
    return this.#at("/resume", { method: "POST" });
  }
}

export class RoomTarget extends RpcTarget {
  readonly #at: At;
  constructor(send: Send, name: string) {
    super();
    this.#at = resource(send, `/v1/rooms/${seg(name)}`);
  }
  /**
   * A ticket for `user` to join over WebSocket; its `url` is on `origin` (the service's public URL; default the
   * internal one, which only the ticket's bearer's own client can turn into a URL).
   */
  ticket(user: string, options: { ttlSec?: number; origin?: string } = {}) {
    const { origin, ...body } = options;
    return this.#at("/tickets", { json: { user, ...body }, ...(origin ? { origin } : {}) });
  }
  /** Publish `data` as the server (`from`: default `server`). */
  publish(data: unknown, options: { from?: string } = {}) {
    return this.#at("/messages", { json: { data, ...options } });
  }
  info() {
    return this.#at("");
  }
  setShards(shards: number) {
    return this.#at("/shards", { method: "PUT", json: { shards } });
  }
}
