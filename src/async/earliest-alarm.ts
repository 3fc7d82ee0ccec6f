/**
 * An object's one alarm, kept no later than the earliest moment something falls due (a lease's end). An alarm
 * already due sooner is kept: when it fires it finds nothing due yet and is armed again for what is. One left over
 * after the work went away finds nothing to do. Setting an alarm costs a storage write, so a busy Lock or Semaphore
 * sets about one per lease length instead of one per grant, and a busy RateLimiter about one per period.
 *
 * Runtime-neutral: it needs only the two alarm calls of a Durable Object's storage.
 */
export interface AlarmStorage {
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number): Promise<void>;
}

export class EarliestAlarm {
  /** When the alarm is set for (null: none; undefined: not read yet since the object started). */
  #at: number | null | undefined;

  constructor(private readonly storage: AlarmStorage) {}

  /**
   * Make sure the alarm fires no later than `at`.
   *
   * @example
   * await this.#alarm.armBy(lease.expiresAt);
   */
  async armBy(at: number): Promise<void> {
    if (this.#at === undefined) this.#at = await this.storage.getAlarm();
    if (this.#at !== null && this.#at <= at) return;
    this.#at = at;
    await this.storage.setAlarm(at);
  }

  /** Call first in `alarm()`: the alarm that fired is no longer set. */
  fired(): void {
    this.#at = null;
  }
}
