/**
 * The fan-out panel: a few calls to the demo upstream through `client.fanout.stream`, drawn as a waterfall while the
 * results stream in (completion order): one bar per call from its start (`startedMs`) to its end (`durationMs`),
 * coloured by outcome, with its attempts. Stop closes the request. Deployed, the service then aborts the calls still
 * running; locally (npm start) it is not told that the page left, so they run to their end unseen, and the panel
 * says so.
 */
import { $, messageOf, setStatus, upstreamUrl } from "./dom.js";

/** The calls the textarea asks for: one `ms status` pair a line. */
function parseCalls(text) {
  const calls = [];
  for (const line of text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    const [ms, status = "200"] = line.split(/\s+/);
    if (!/^\d{1,4}$/.test(ms) || !/^\d{3}$/.test(status))
      throw new Error(`"${line}": write a delay in ms and a status`);
    calls.push({ ms: Number(ms), status: Number(status) });
  }
  if (calls.length === 0 || calls.length > 8) throw new Error("Give 1 to 8 calls, one a line.");
  return calls;
}

/** What colour a result's bar is. */
function outcomeOf(result) {
  if (result.outcome === "fulfilled") return result.ok ? "ok" : "http-error";
  const kind = result.error?.kind;
  if (kind === "status") return "http-error";
  return kind === "timeout" || kind === "deadline" ? "timeout" : "failed";
}

function labelOf(result) {
  if (result.outcome === "fulfilled" || result.error?.kind === "status") return `${result.status}`;
  return result.error?.kind ?? "failed";
}

export function fanoutPanel(client) {
  let running;

  /** The time scale under the bars: 0 at the fan-out's start, then the latest end seen. */
  function axis(scaleMs) {
    const li = document.createElement("li");
    li.className = "row axis";
    const track = document.createElement("span");
    track.className = "track";
    const [start, end] = [document.createElement("span"), document.createElement("span")];
    start.textContent = "0 ms";
    end.textContent = `${Math.round(scaleMs)} ms`;
    track.append(start, end);
    li.append(document.createElement("span"), track);
    return li;
  }

  function draw(calls, results, scaleMs, stopped = false) {
    $("waterfall").replaceChildren(
      ...calls.map((call, i) => {
        const result = results[i];
        const li = document.createElement("li");
        li.className = "row";
        li.dataset.index = String(i);
        li.dataset.outcome = result ? outcomeOf(result) : "pending";
        if (result) li.dataset.startedMs = String(result.startedMs);
        const name = document.createElement("span");
        name.className = "call";
        name.textContent = `#${i + 1} ${call.ms} ms → ${call.status}`;
        const track = document.createElement("span");
        track.className = "track";
        const bar = document.createElement("span");
        bar.className = `bar ${li.dataset.outcome}`;
        if (result) {
          const start = result.startedMs ?? 0;
          bar.style.left = `${(start / scaleMs) * 100}%`;
          bar.style.width = `${Math.max(0.5, (result.durationMs / scaleMs) * 100)}%`;
          bar.textContent = `${labelOf(result)} · ${result.durationMs} ms`;
          if (result.attempts > 1) {
            const tries = document.createElement("b");
            tries.textContent = ` ×${result.attempts}`;
            bar.append(tries);
          }
          bar.title = result.error ? result.error.message : `answered ${result.status}`;
        } else {
          bar.textContent = stopped ? "not read: stopped" : "waiting…";
        }
        track.append(bar);
        li.append(name, track);
        return li;
      }),
      axis(scaleMs),
    );
  }

  $("fanout-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    running?.abort();
    let calls;
    try {
      calls = parseCalls($("fanout-calls").value);
    } catch (err) {
      return setStatus($("fanout-status"), err.message, true);
    }
    const controller = new AbortController();
    running = controller;
    const results = [];
    let scaleMs = 1_000;
    draw(calls, results, scaleMs);
    setStatus($("fanout-status"), `Running ${calls.length} calls…`);
    $("fanout-stop").disabled = false;
    const stream = client.fanout.stream(
      calls.map((c, i) => ({ id: `call-${i + 1}`, url: upstreamUrl(c.ms, c.status) })),
      {
        concurrency: Number($("fanout-concurrency").value),
        timeoutMs: Number($("fanout-timeout").value),
        retry: { attempts: Number($("fanout-attempts").value), baseMs: 100, maxMs: 500 },
        signal: controller.signal,
      },
    );
    try {
      for await (const result of stream) {
        results[result.index] = result;
        scaleMs = Math.max(scaleMs, (result.startedMs ?? 0) + result.durationMs);
        draw(calls, results, scaleMs);
      }
      const s = stream.summary;
      setStatus(
        $("fanout-status"),
        `${calls.length} calls in ${s.durationMs} ms at concurrency ${s.concurrency}: ${s.fulfilled} fulfilled, ${s.rejected} rejected.`,
      );
    } catch (err) {
      const stopped = controller.signal.aborted;
      if (stopped) draw(calls, results, scaleMs, true);
      setStatus(
        $("fanout-status"),
        stopped
          ? `Stopped after ${results.filter(Boolean).length} of ${calls.length} results: the page closed the request. ` +
              "Deployed on Cloudflare, the service then aborts the calls still running; locally (npm start) it is " +
              "not told that the page left, so those calls run to their end, unseen."
          : messageOf(err),
        !stopped,
      );
    } finally {
      if (running === controller) $("fanout-stop").disabled = true;
    }
  });

  $("fanout-stop").addEventListener("click", () => running?.abort());
}
