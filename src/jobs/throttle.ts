/**
 * A leading-and-trailing throttle for progress updates: the first update goes out at once, later ones at most
 * once per interval, the latest pending one after the interval (so the last change is never lost), and a final
 * update always at once. Plain TypeScript with an injected clock, so it is tested without timers.
 */

export type ThrottleDecision =
  /** Publish this value now. */
  | { action: "now" }
  /** Publish the latest value after `delayMs` (no timer is pending yet: start one). */
  | { action: "later"; delayMs: number }
  /** A timer is already pending and will publish the latest value: nothing to do. */
  | { action: "pending" };

/**
 * @example
 * const t = new Throttle(200);
 * t.offer(0)          // { action: "now" }
 * t.offer(50)         // { action: "later", delayMs: 150 }
 * t.offer(90)         // { action: "pending" }
 * t.fired(200)        // the timer ran: publish the latest value
 * t.offer(210, true)  // { action: "now" } (final)
 */
export class Throttle {
  #last = Number.NEGATIVE_INFINITY;
  #timer = false;

  constructor(readonly intervalMs: number) {}

  /** An update is available at time `now`; `final` ones always go out at once. */
  offer(now: number, final = false): ThrottleDecision {
    if (final || (!this.#timer && now - this.#last >= this.intervalMs)) {
      this.#last = now;
      return { action: "now" };
    }
    if (this.#timer) return { action: "pending" };
    this.#timer = true;
    return { action: "later", delayMs: Math.max(0, this.intervalMs - (now - this.#last)) };
  }

  /** The trailing timer fired at `now` and its update was published. */
  fired(now: number): void {
    this.#timer = false;
    this.#last = now;
  }

  /** Whether a trailing update is waiting for its timer. */
  get pending(): boolean {
    return this.#timer;
  }
}

/**
 * Offer an update to `throttle` now and act on its decision with real timers: `flush` at once, or after the delay
 * (the timer then tells the throttle it fired). Answers the timer it started, if any.
 *
 * @example
 * this.#timer = offerNow(this.#throttle, () => this.#flush()) ?? this.#timer;
 */
export function offerNow(throttle: Throttle, flush: () => void): ReturnType<typeof setTimeout> | undefined {
  const decision = throttle.offer(Date.now());
  if (decision.action === "now") flush();
  else if (decision.action === "later") {
    return setTimeout(() => {
      throttle.fired(Date.now());
      flush();
    }, decision.delayMs);
  }
  return undefined;
}
