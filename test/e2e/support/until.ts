/** Waiting in e2e tests for a condition another process makes true: polled, with a bound that fails the test. */

/**
 * Resolve once `check` holds (polled every `intervalMs`); reject after `timeoutMs` naming `what` was awaited.
 *
 * @example
 * await until(() => member.messages.length === 3, "3 messages");
 * await until(async () => (await lockStatus()).waiters === 1, "the second acquire to queue");
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 5_000, intervalMs = 10 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
