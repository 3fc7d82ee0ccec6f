/**
 * Batch windows the test opens itself (the `schedule` option of Batcher and CounterRouter): a batch waits until
 * `fire()`, so what goes into which batch is decided by the test, never by a clock. After `release()`, windows
 * fire on their own timers (for what happens after the part a test orders).
 */
export function manualWindows() {
  const waiting: (() => void)[] = [];
  let released = false;
  return {
    schedule(fire: () => void, ms: number): void {
      if (released) setTimeout(fire, ms);
      else waiting.push(fire);
    },
    /** Windows armed and not fired yet. */
    get waiting(): number {
      return waiting.length;
    },
    /** Fire every window armed so far, oldest first. */
    fire(): void {
      for (const fire of waiting.splice(0)) fire();
    },
    /** Fire the waiting windows; later ones fire on their own timers. */
    release(): void {
      released = true;
      this.fire();
    },
  };
}
