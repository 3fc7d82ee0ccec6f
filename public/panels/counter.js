/** The counter panel: a demo- counter read every 2 s and incremented by one (`client.counter(name)`). */
import { $, DEMO_NAME, messageOf, setStatus } from "./dom.js";

export function counterPanel(client) {
  const name = () => $("counter-name").value.trim();

  /** The value and what the status line says about it, from any answer (a read or an increment). */
  function show(counter) {
    $("counter-value").textContent = String(counter.value);
    // A counter never written reads 0 with updatedAt null.
    setStatus(
      $("counter-status"),
      counter.updatedAt === null
        ? "Not written yet: +1 creates it."
        : `Updated ${new Date(counter.updatedAt).toLocaleTimeString()}.`,
    );
  }

  async function refresh() {
    if (!DEMO_NAME.test(name())) return;
    try {
      show(await client.counter(name()).get());
    } catch (err) {
      setStatus($("counter-status"), messageOf(err), true);
    }
  }

  $("counter-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!DEMO_NAME.test(name())) {
      return setStatus($("counter-status"), "Counter names: demo-… (A-Z a-z 0-9 . _ : -)", true);
    }
    try {
      show(await client.counter(name()).increment(1));
    } catch (err) {
      setStatus($("counter-status"), messageOf(err), true);
    }
  });
  $("counter-name").addEventListener("change", refresh);

  refresh();
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, 2_000);
}
