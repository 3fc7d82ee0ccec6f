/**
 * The job panel: a small job against the demo upstream (`client.jobs.create`), its progress bar filled from
 * `client.jobs.watch(id)` (what the service publishes into room `job:<id>` as calls finish, never a member's
 * look-alike), then its results (`client.jobs.results(id)`) once it has ended.
 */
import { $, messageOf, setStatus, upstreamUrl } from "./dom.js";

const JOB_ID = /^[0-9a-f]{32}$/;

export function jobsPanel(client) {
  let watching;

  function show(p) {
    const total = Math.max(p.total, 0);
    $("job-progress").max = total || 1;
    // `done` counts every call with a result, ok or not (`failed` are those of them that are not ok).
    $("job-progress").value = Math.min(p.done, total);
    setStatus(
      $("job-status"),
      `${p.id}: ${p.state}, ${p.done}/${total} done${p.failed ? `, ${p.failed} failed` : ""}.`,
      p.state === "failed",
    );
  }

  /** One line per result: its call, its status (or why it failed), how long it took. */
  async function showResults(id, signal) {
    const items = [];
    for await (const r of client.jobs.results(id, { pageSize: 20, signal })) {
      const li = document.createElement("li");
      li.dataset.index = String(r.index);
      li.className = r.ok ? "ok" : "not-ok";
      const outcome = r.error?.kind === "status" || !r.error ? `${r.status}` : r.error.kind;
      li.textContent = `#${r.index + 1} ${outcome}${typeof r.durationMs === "number" ? ` · ${r.durationMs} ms` : ""}`;
      items.push(li);
    }
    $("job-results").replaceChildren(...items);
  }

  async function watch(id) {
    watching?.abort();
    const controller = new AbortController();
    watching = controller;
    $("job-progress").value = 0;
    $("job-results").replaceChildren();
    setStatus($("job-status"), `Watching job:${id}…`);
    try {
      const user = $("name").value.trim() || "watcher";
      for await (const progress of client.jobs.watch(id, { user, signal: controller.signal })) show(progress);
      await showResults(id, controller.signal);
    } catch (err) {
      if (!controller.signal.aborted) setStatus($("job-status"), messageOf(err), true);
    }
  }

  $("job-create-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const calls = Number($("job-calls").value);
    const ms = Number($("job-delay").value);
    setStatus($("job-status"), `Creating a job of ${calls} calls…`);
    try {
      const job = await client.jobs.create({
        type: "fanout",
        requests: Array.from({ length: calls }, () => ({ url: upstreamUrl(ms) })),
        concurrency: 2,
      });
      $("job-id").value = job.id;
      watch(job.id);
    } catch (err) {
      setStatus($("job-status"), messageOf(err), true);
    }
  });

  $("job-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("job-id").value.trim();
    if (!JOB_ID.test(id)) return setStatus($("job-status"), "A job id is 32 characters of 0-9 a-f.", true);
    watch(id);
  });
}
