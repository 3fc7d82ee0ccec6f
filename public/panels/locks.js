/**
 * The lock panel: two simulated holders of one demo- lock (`client.lock(name).acquire()`). A holder acquiring while
 * the other holds it waits in the lock's line; each grant carries the next fencing token; a lease renews itself
 * while held. The lock's own view (holder, token, line) is read every half second while the panel is busy.
 */
import { $, DEMO_NAME, messageOf, setStatus } from "./dom.js";

const TTL_MS = 4_000;
const WAIT_MS = 10_000;
/** How long each holder keeps the lock when "Contend" runs the scene. */
const HOLD_MS = 1_500;

export function lockPanel(client) {
  const leases = { a: undefined, b: undefined };
  const busy = { a: false, b: false };
  const name = () => $("lock-name").value.trim();
  const owner = (who) => `holder-${who}`;

  function showHolder(who, text, state) {
    const el = $(`holder-${who}-state`);
    el.textContent = text;
    el.dataset.state = state;
    $(`holder-${who}`).dataset.state = state;
    $(`holder-${who}-acquire`).disabled = state === "waiting" || state === "holding";
    $(`holder-${who}-release`).disabled = state !== "holding";
  }

  async function refresh() {
    if (!DEMO_NAME.test(name())) return;
    try {
      const s = await client.lock(name()).status();
      $("lock-holder").textContent = s.holder ?? "nobody";
      $("lock-token").textContent = s.token === null ? `– (last ${s.lastToken})` : String(s.token);
      $("lock-waiters").textContent = String(s.waiters);
    } catch (err) {
      setStatus($("lock-status"), messageOf(err), true);
    }
  }

  async function acquire(who) {
    if (!DEMO_NAME.test(name())) return setStatus($("lock-status"), "Lock names: demo-…", true);
    busy[who] = true;
    showHolder(who, "waiting in line…", "waiting");
    refresh();
    try {
      const lease = await client.lock(name()).acquire({ owner: owner(who), ttlMs: TTL_MS, waitMs: WAIT_MS });
      leases[who] = lease;
      showHolder(who, `holding · fencing token ${lease.token}`, "holding");
      lease.signal.addEventListener("abort", () => showHolder(who, "lost the lease", "lost"));
    } catch (err) {
      showHolder(who, messageOf(err), "refused");
    } finally {
      busy[who] = false;
      refresh();
    }
  }

  async function release(who) {
    const lease = leases[who];
    leases[who] = undefined;
    if (!lease) return;
    try {
      // What `await using` does at the end of its block.
      await lease.release();
      showHolder(who, `released token ${lease.token}`, "released");
    } catch (err) {
      showHolder(who, messageOf(err), "refused");
    }
    refresh();
  }

  for (const button of document.querySelectorAll("#lock-panel .holder button")) {
    button.addEventListener("click", () => {
      const who = button.dataset.holder;
      if (button.dataset.action === "acquire") acquire(who);
      else release(who);
    });
  }

  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // The scene: A takes the lock, B queues behind it, A lets go and B gets it with the next token.
  $("lock-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("lock-contend").disabled = true;
    setStatus($("lock-status"), "A acquires, B waits in line, then A releases…");
    try {
      await acquire("a");
      const b = acquire("b");
      await pause(HOLD_MS);
      await release("a");
      await b;
      await pause(HOLD_MS);
      await release("b");
      setStatus($("lock-status"), "Done: B got the lock the moment A released it, with the next fencing token.");
    } finally {
      $("lock-contend").disabled = false;
    }
  });
  $("lock-name").addEventListener("change", refresh);

  refresh();
  setInterval(() => {
    if (document.visibilityState === "visible" && (busy.a || busy.b || leases.a || leases.b)) refresh();
  }, 500);
}
