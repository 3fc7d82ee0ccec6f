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
import type { Counter, CounterResult, IncrementMember, ShardsAnswer, Snapshot } from "../objects/counter";
import { sharded } from "../objects/counter-state";
import { settings } from "../settings";
import { ShardRoutes, shardName } from "./shards";

/** An increment's answer: the object's, with the counter's shard count and, when sharded, the shard that took it. */
export type Routed = CounterResult & { shards: number; shard?: number };

export type ReadAnswer = ({ ok: true } & Snapshot) | { ok: false; reason: "unsafe"; detail: string; shards: number };

export interface CounterRouterOptions {
  windowMs: number;
  maxSize: number;
  /** The window's timer (tests pass one they fire themselves): see `BatcherOptions.schedule`. */
  schedule?: (fire: () => void, ms: number) => void;
  /** The first shard turn (default random). */
  start?: number;
}

/** Sent again where it belongs: the home said the counter has another shard count. */
const REROUTE = Symbol("reroute");

const bounded = (m: IncrementMember) => m.min !== undefined || m.max !== undefined;

/** Every task's value in order, or the first failure (gather: a shard that cannot answer fails the call). */
async function gather<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const settled = await settle(tasks);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as { value: T }).value);
}

export class CounterRouter {
  readonly #ns: DurableObjectNamespace<Counter>;
  readonly #routes: ShardRoutes;
  readonly #batcher: Batcher<string, IncrementMember, Routed | typeof REROUTE>;

  /**
   * @example
   * const counters = new CounterRouter(env.COUNTER, { windowMs: 2, maxSize: 64 });
   * const answer = await counters.increment("views", { by: 1 }, (p) => ctx.waitUntil(p));
   */
  constructor(ns: DurableObjectNamespace<Counter>, options: CounterRouterOptions) {
    this.#ns = ns;
    this.#routes = new ShardRoutes({ start: options.start });
    this.#batcher = new Batcher({
      windowMs: options.windowMs,
      maxSize: options.maxSize,
      schedule: options.schedule,
      send: (name, members) => this.#send(name, members),
    });
  }

  /** The shard count this isolate believes `name` has (1 until its home said otherwise). */
  shardsOf(name: string): number {
    return this.#routes.shards(name);
  }

  /** Add `member.by` to `name` (within its bounds), batched with the other increments of `name` in this isolate. */
  async increment(name: string, member: IncrementMember, keepAlive?: KeepAlive): Promise<Routed> {
    // Twice at most: a batch the home sends back is sent again with the count it named, which never changes.
    for (let attempt = 0; attempt < 2; attempt++) {
      const shards = this.#routes.shards(name);
      if (shards > 1 && bounded(member)) return sharded(shards, "a bounded increment");
      const answer = await this.#batcher.add(name, member, keepAlive);
      if (answer !== REROUTE) return answer;
    }
    throw new Error(`counter ${name}: its home named another shard count twice`);
  }

  async #send(name: string, members: IncrementMember[]): Promise<(Routed | typeof REROUTE)[]> {
    const shards = this.#routes.shards(name);
    if (shards === 1) {
      const answer = await this.#stub(name, 0).incrementBatch(members, 1);
      if (!answer.ok) return this.#reroute(name, answer.shards, members);
      return answer.results.map((r) => ({ ...r, shards }));
    }
    // Sharded: a bounded member (added before the count was known) is refused; the rest go to the next shard.
    const plain = members.filter((m) => !bounded(m));
    const shard = this.#routes.next(name);
    const answer = plain.length
      ? await this.#stub(name, shard).incrementBatch(plain, shard === 0 ? shards : undefined)
      : { ok: true as const, results: [] };
    if (!answer.ok) return this.#reroute(name, answer.shards, members);
    const results = answer.results.values();
    return members.map((m) =>
      bounded(m)
        ? sharded(shards, "a bounded increment")
        : { ...(results.next().value as CounterResult), shards, shard },
    );
  }

  #reroute(name: string, shards: number, members: IncrementMember[]): (typeof REROUTE)[] {
    this.#routes.learn(name, shards);
    return members.map(() => REROUTE);
  }

  /** The counter's value: its home's, or the sum of every shard's snapshot, read at once. */
  async read(name: string): Promise<ReadAnswer> {
    const believed = this.#routes.shards(name);
    let snapshots: Snapshot[];
    if (believed > 1) {
      snapshots = await gather(this.#shards(name, 0, believed).map((stub) => () => stub.snapshot()));
    } else {
      const home = await this.#stub(name, 0).snapshot();
      this.#routes.learn(name, home.shards);
      const rest = await gather(this.#shards(name, 1, home.shards).map((stub) => () => stub.snapshot()));
      snapshots = [home, ...rest];
    }
    const shards = snapshots.length;
    const value = snapshots.reduce((sum, s) => sum + s.value, 0);
    if (!Number.isSafeInteger(value)) {
      return { ok: false, reason: "unsafe", detail: "the sum of its shards is beyond ±(2^53-1)", shards };
    }
    const times = snapshots.flatMap((s) => (s.updatedAt === null ? [] : [s.updatedAt]));
    return { ok: true, value, updatedAt: times.length ? Math.max(...times) : null, shards };
  }

  /** Reset every shard to 0 at once (the home keeps the shard count). */
  async reset(name: string): Promise<Snapshot> {
    const believed = this.#routes.shards(name);
    if (believed > 1) {
      await gather(this.#shards(name, 0, believed).map((stub) => () => stub.reset()));
      return { value: 0, updatedAt: null, shards: believed };
    }
    const home = await this.#stub(name, 0).reset();
    this.#routes.learn(name, home.shards);
    await gather(this.#shards(name, 1, home.shards).map((stub) => () => stub.reset()));
    return home;
  }

  /** Spread `name` over `shards` objects (set once, before the first write: the home decides). */
  async setShards(name: string, shards: number): Promise<ShardsAnswer> {
    const answer = await this.#stub(name, 0).configureShards(shards);
    if (answer.ok || answer.reason === "shards-set") this.#routes.learn(name, answer.shards);
    return answer;
  }

  #stub(name: string, shard: number) {
    return this.#ns.getByName(shardName(name, shard));
  }

  /** Stubs of shards `from` (inclusive) to `to` (exclusive). */
  #shards(name: string, from: number, to: number) {
    return Array.from({ length: Math.max(0, to - from) }, (_, i) => this.#stub(name, from + i));
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
