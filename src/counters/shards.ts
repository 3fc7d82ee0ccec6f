/**
 * Where a counter's shards live and which one takes the next batch: what one isolate knows of each counter's shard
 * count (learned from its home object, immutable once set there) and a round-robin turn per counter from a random
 * start, so every isolate spreads its batches evenly and isolates do not all start on the same shard.
 */

/**
 * The Counter object name of shard `shard` of counter `name`: the home (shard 0) is the counter's own object; `#`
 * is outside the name pattern, so no counter name reaches another counter's shard.
 *
 * @example
 * shardName("views", 0); // "views"
 * shardName("views", 3); // "views#3"
 */
export const shardName = (name: string, shard: number): string => (shard === 0 ? name : `${name}#${shard}`);

/** Counters whose shard count one isolate remembers; the oldest learned is forgotten beyond this (asked again). */
export const MAX_KNOWN_COUNTERS = 4_096;

export class ShardRoutes {
  readonly #known = new Map<string, { shards: number; turn: number }>();
  readonly #start: number;
  readonly #max: number;

  /**
   * @param start the isolate's first turn (default random)
   * @example
   * const routes = new ShardRoutes();
   * routes.learn("views", 4);
   * routes.next("views"); // 0..3, then the following ones in turn
   */
  constructor(options: { start?: number; max?: number } = {}) {
    this.#start = options.start ?? Math.floor(Math.random() * 2 ** 31);
    this.#max = options.max ?? MAX_KNOWN_COUNTERS;
  }

  /** The shard count believed for `name`: 1 until a home said otherwise (the home checks every belief of 1). */
  shards(name: string): number {
    return this.#known.get(name)?.shards ?? 1;
  }

  /**
   * Remember what the home said; 1 is the default and is not stored. Hearing the same count again (batches refused
   * together) keeps the turn where it is, so they still take different shards.
   */
  learn(name: string, shards: number): void {
    if (this.#known.get(name)?.shards === shards) return;
    this.#known.delete(name);
    if (shards <= 1) return;
    if (this.#known.size >= this.#max) this.#known.delete(this.#known.keys().next().value as string);
    this.#known.set(name, { shards, turn: this.#start % shards });
  }

  /** The shard whose turn it is for `name` (0 for an unsharded counter). */
  next(name: string): number {
    const entry = this.#known.get(name);
    if (!entry) return 0;
    const shard = entry.turn;
    entry.turn = (entry.turn + 1) % entry.shards;
    return shard;
  }
}
