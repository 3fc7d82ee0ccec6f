/**
 * The counters of one isolate: group commit and shard routing in front of the Counter objects (docs/counters.md).
 *
 * Increments without a fence, of one counter, that arrive within COUNTER_BATCH_WINDOW_MS (up to COUNTER_BATCH_MAX)
 * go to an object as one `incrementBatch` call, and each caller gets its own answer once that call has returned,
 * that is once the object's write is durable (output gates). A sharded counter's batches take its shards in turn.
 * An isolate that does not know a counter is sharded sends to the home with its belief (1 shard); the home refuses
 * such a batch and names the count, and the isolate sends it again where it belongs. Reads and resets of a sharded
 * counter go to every shard at once.
 */
import { Batcher, type KeepAlive, settle } from "../async";
import { settings } from "../settings";
import type { Counter, CounterResult, IncrementMember, ShardsAnswer, Snapshot } from "./counter";
import { sharded } from "./counter-state";
import { ShardRoutes, shardName } from "./shards";

/** An increment's answer: the object's, with the counter's shard count and, when sharded, the shard that took it. */
export type Routed = CounterResult & { shards: number; shard?: number };

export type ReadAnswer = ({ ok: true } & Snapshot) | { ok: false; reason: "unsafe"; detail: string; shards: number };

export interface CounterRouterOptions {
  windowMs: number;
  maxSize: number;
  /** Waits out a batch window (tests pass one they open themselves): see `BatcherOptions.window`. */
  window?: (ms: number) => Promise<void>;
}

type Stub = DurableObjectStub<Counter>;

const bounded = (m: IncrementMember) => m.min !== undefined || m.max !== undefined;

export class CounterRouter {
  readonly #ns: DurableObjectNamespace<Counter>;
  readonly #routes: ShardRoutes;
  readonly #batcher: Batcher<string, IncrementMember, Routed>;

  /**
   * @example
   * const counters = new CounterRouter(env.COUNTER, { windowMs: 2, maxSize: 64 });
   * const answer = await counters.increment("views", { by: 1 }, (p) => ctx.waitUntil(p));
   */
  constructor(ns: DurableObjectNamespace<Counter>, options: CounterRouterOptions) {
    this.#ns = ns;
    this.#routes = new ShardRoutes();
    this.#batcher = new Batcher({
      windowMs: options.windowMs,
      maxSize: options.maxSize,
      window: options.window,
      send: (name, members) => this.#send(name, members),
    });
  }

  /** The shard count this isolate believes `name` has (1 until its home said otherwise). */
  shardsOf(name: string): number {
    return this.#routes.shards(name);
  }

  /** Add `member.by` to `name` (within its bounds), batched with the other increments of `name` in this isolate. */
  increment(name: string, member: IncrementMember, keepAlive?: KeepAlive): Promise<Routed> {
    const shards = this.#routes.shards(name);
    if (shards > 1 && bounded(member)) return Promise.resolve(sharded(shards));
    return this.#batcher.add(name, member, keepAlive);
  }

  /**
   * Send one batch to the shard whose turn it is. A home that names another shard count has applied nothing: the
   * batch is sent again, once, with that count (which never changes once set).
   */
  async #send(name: string, members: IncrementMember[], again = true): Promise<Routed[]> {
    const shards = this.#routes.shards(name);
    // Sharded: a bounded member (added before the count was known) is refused; the rest go to the next shard.
    const refused = (m: IncrementMember) => shards > 1 && bounded(m);
    const plain = members.filter((m) => !refused(m));
    const shard = this.#routes.next(name);
    const answer = plain.length
      ? await this.#stub(name, shard).incrementBatch(plain, shard === 0 ? shards : undefined)
      : { ok: true as const, results: [] };
    if (!answer.ok) {
      if (!again) throw new Error(`counter ${name}: its shard count changed twice`);
      this.#routes.learn(name, answer.shards);
      return this.#send(name, members, false);
    }
    const results = answer.results.values();
    return members.map((m) =>
      refused(m)
        ? sharded(shards)
        : { ...(results.next().value as CounterResult), shards, ...(shards > 1 && { shard }) },
    );
  }

  /** The counter's value: its home's, or the sum of every shard's snapshot, read at once. */
  async read(name: string): Promise<ReadAnswer> {
    const snapshots = await this.#everyShard(name, (stub) => stub.snapshot());
    const shards = snapshots.length;
    const value = snapshots.reduce((sum, s) => sum + s.value, 0);
    if (!Number.isSafeInteger(value)) {
      return { ok: false, reason: "unsafe", detail: "its sum is beyond ±(2^53-1)", shards };
    }
    const times = snapshots.flatMap((s) => (s.updatedAt === null ? [] : [s.updatedAt]));
    return { ok: true, value, updatedAt: times.length ? Math.max(...times) : null, shards };
  }

  /** Reset every shard to 0 at once (the home keeps the shard count). */
  async reset(name: string): Promise<Snapshot> {
    const shards = (await this.#everyShard(name, (stub) => stub.reset())).length;
    return { value: 0, updatedAt: null, shards };
  }

  /**
   * `call` on every shard of `name`, at once when the count is known; else on the home first, which names it.
   * Answers in shard order; fails if any shard fails.
   */
  async #everyShard<T extends { shards: number }>(name: string, call: (stub: Stub) => Promise<T>): Promise<T[]> {
    // asyncio.gather: every shard at once, answers in order, the first failure fails the call.
    const run = async (from: number, to: number) => {
      const settled = await settle(Array.from({ length: to - from }, (_, i) => () => call(this.#stub(name, from + i))));
      return settled.map((s) => {
        if (s.status === "rejected") throw s.reason;
        return s.value;
      });
    };
    const believed = this.#routes.shards(name);
    if (believed > 1) return run(0, believed);
    const home = await call(this.#stub(name, 0));
    this.#routes.learn(name, home.shards);
    return [home, ...(await run(1, home.shards))];
  }

  /** Spread `name` over `shards` objects (set once, before the first write: the home decides). */
  async setShards(name: string, shards: number): Promise<ShardsAnswer> {
    const answer = await this.#stub(name, 0).configureShards(shards);
    if (answer.ok || answer.reason === "shards-set") this.#routes.learn(name, answer.shards);
    return answer;
  }

  #stub(name: string, shard: number): Stub {
    return this.#ns.getByName(shardName(name, shard));
  }
}

const routers = new WeakMap<object, CounterRouter>();

/**
 * This isolate's router for `env` (one per environment object, built from its settings). Module state on purpose:
 * group commit needs every request of the isolate to share it.
 *
 * @example
 * const answer = await countersOf(c.env).increment(name, { by: 1 }, (p) => c.executionCtx.waitUntil(p));
 */
export function countersOf(env: Env): CounterRouter {
  let router = routers.get(env);
  if (!router) {
    const s = settings(env);
    router = new CounterRouter(env.COUNTER, { windowMs: s.COUNTER_BATCH_WINDOW_MS, maxSize: s.COUNTER_BATCH_MAX });
    routers.set(env, router);
  }
  return router;
}
