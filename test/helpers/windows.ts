/**
 * Batch windows the test opens itself (the `window` option of Batcher and CounterRouter): every caller waits in its
 * window until `fire()`, so what goes into which batch is decided by the test, never by a clock. After `release()`,
 * windows end on their own timers (for what happens after the part a test orders).
 */
export function manualWindows() {
  const waiting: (() => void)[] = [];
  let released = false;
  return {
    window(ms: number): Promise<void> {
      if (released) return new Promise((resolve) => setTimeout(resolve, ms));
      return new Promise((resolve) => waiting.push(resolve));
    },
    /** Callers waiting in a window now. */
    get waiting(): number {
      return waiting.length;
    },
    /** End every window begun so far, oldest first. */
    fire(): void {
      for (const end of waiting.splice(0)) end();
    },
    /** End the waiting windows; later ones end on their own timers. */
    release(): void {
      released = true;
      this.fire();
    },
  };
}
