/**
 * The demo page in a real browser: headless Chromium from npm (@sparticuz/chromium), driven by playwright-core, against the built
 * worker on Miniflare. Every panel: two pages join one room and chat; two pages vote in a poll room; a fan-out streams into its waterfall; two holders
 * contend for a lock; a job's progress bar fills; a counter counts. The page works without the API token: its client
 * calls only the demo routes (DEMO_MODE) and the room sockets.
 * And the API reference at /docs (Scalar): a request sent from the page, and not one request leaving the origin.
 * A screenshot of each page goes to test-results/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WS from "ws";
import { startJobsUpstream } from "../setup/jobs-upstream.ts";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { until } from "./support/until.ts";
import { useUpstream } from "./support/upstream.ts";
import { useWorker } from "./support/worker.ts";

const root = new URL("../../", import.meta.url).pathname;
const results = join(root, "test-results");

const upstream = useUpstream(startJobsUpstream);
// Registered before the browser's hooks: started first, stopped last (after-hooks run in reverse).
const worker = useWorker({
  ROOM_TICKET_SECRET: "e2e-ticket-secret",
  DEMO_MODE: "true",
  FANOUT_ALLOW_HOSTS: "127.0.0.1",
});
let browser: TestBrowser;
let context: BrowserContext;

beforeAll(async () => {
  browser = await launchBrowser({ viewport: { width: 1200, height: 760 } });
  context = browser.context;
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

/**
 * Open the demo page and collect what would show a broken page (script errors, CSP refusals) or a page that holds
 * the API token: any request carrying an Authorization header, any call to /v1 but the room sockets, any response
 * the page read that contains the token.
 */
async function openDemo(problems: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy|Uncaught|SyntaxError/.test(msg.text())) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  page.on("request", (request) => {
    const { pathname } = new URL(request.url());
    if (request.headers().authorization !== undefined) problems.push(`authorization sent to ${pathname}`);
    if (pathname.startsWith("/v1/") && !/^\/v1\/rooms\/[^/]+\/ws$/.test(pathname))
      problems.push(`/v1 call: ${pathname}`);
  });
  page.on("response", async (response) => {
    if (!new URL(response.url()).pathname.startsWith("/demo/")) return;
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      // Chromium keeps no body of a stream the page is done with or was closed while reading (the fan-out's
      // ndjson): test/demo/demo.test.ts checks that stream for the token instead.
      const gone = /has been closed|No data found for resource|navigated away/.test(String(err));
      if (!gone) problems.push(`unreadable ${response.url()}: ${String(err)}`);
      return;
    }
    if (text.includes(worker.token)) problems.push(`the token in ${response.url()}`);
  });
  await page.goto(`${worker.url}/`);
  return page;
}

/** The page keeps no API token anywhere it could: no token field, nothing in its storage. */
async function holdsNoToken(page: Page): Promise<void> {
  expect(await page.$("#token")).toBeNull();
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
  expect(stored).not.toContain(worker.token);
}

async function joinAs(page: Page, name: string, room: string): Promise<void> {
  await page.fill("#name", name);
  await page.fill("#room", room);
  await page.click("#join");
  await page.waitForSelector("#send:not([disabled])", { timeout: 10_000 });
}

const memberCount = (page: Page, count: number) =>
  page.waitForFunction((n) => document.querySelector("#member-count")?.textContent === String(n), count, {
    timeout: 10_000,
  });

async function waitForJob(id: string, state: string): Promise<void> {
  const stateOf = async () => ((await (await worker.api(`/v1/jobs/${id}`)).json()) as { state: string }).state;
  await until(async () => (await stateOf()) === state, `job ${id} to be ${state}`, {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
}

/** Join `room` as `user` over a real socket (a ticket from the API), send `data` and wait for its ack. */
async function postAsMember(room: string, user: string, data: unknown): Promise<void> {
  const res = await worker.api(`/v1/rooms/${room}/tickets`, { method: "POST", json: { user } });
  const { url } = (await res.json()) as { url: string };
  const ws = new WS(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.on("error", reject);
      ws.on("close", () => reject(new Error("closed before the ack")));
      ws.on("open", () => ws.send(JSON.stringify({ type: "message", data, id: "look-alike" })));
      ws.on("message", (raw) => {
        if ((JSON.parse(String(raw)) as { type: string }).type === "ack") resolve();
      });
      setTimeout(() => reject(new Error("no ack")), 10_000);
    });
  } finally {
    ws.close();
  }
}

/** Join `room` as `user` over a real socket (a ticket from the API), send `data`; the room's ack or error frame. */
async function answerTo(room: string, user: string, data: unknown): Promise<{ type: string; code?: string }> {
  const res = await worker.api(`/v1/rooms/${room}/tickets`, { method: "POST", json: { user } });
  const { url } = (await res.json()) as { url: string };
  const ws = new WS(url);
  try {
    return await new Promise((resolve, reject) => {
      ws.on("error", reject);
      ws.on("close", () => reject(new Error("closed before an answer")));
      ws.on("open", () => ws.send(JSON.stringify({ type: "message", data, id: "m1" })));
      ws.on("message", (raw) => {
        const frame = JSON.parse(String(raw)) as { type: string; id?: string; code?: string };
        if (frame.id === "m1" && (frame.type === "ack" || frame.type === "error")) resolve(frame);
      });
      setTimeout(() => reject(new Error("no answer")), 10_000);
    });
  } finally {
    ws.close();
  }
}

async function joinPoll(page: Page, name: string, room: string): Promise<void> {
  await page.fill("#poll-user", name);
  await page.fill("#poll-room", room);
  await page.click("#poll-join");
  await page.waitForFunction(() => document.querySelector("#poll-status")?.textContent?.startsWith("In "), undefined, {
    timeout: 10_000,
  });
}

/** The poll as a page shows it: each option's label and count, which one is its own, whether it may vote. */
const pollShown = (page: Page) =>
  page.$$eval("#poll-choices li", (items) =>
    items.map((li) => ({
      option: li.querySelector(".choice")?.textContent,
      count: li.querySelector(".count")?.textContent,
      mine: li.classList.contains("mine"),
      canVote: !(li.querySelector("button") as HTMLButtonElement).disabled,
    })),
  );

const countShown = (page: Page, index: number, count: number) =>
  page.waitForFunction(
    ([i, n]) => document.querySelector(`#poll-choices li:nth-child(${i + 1}) .count`)?.textContent === String(n),
    [index, count] as const,
    { timeout: 10_000 },
  );

describe("the demo page in chromium", () => {
  it("lets two pages chat in one room: the other page shows the message and the member count; a later page gets the history", async () => {
    const room = `demo-e2e-${crypto.randomUUID().slice(0, 8)}`;
    const problems: string[] = [];
    const ada = await openDemo(problems);
    const bob = await openDemo(problems);
    try {
      await joinAs(ada, "ada", room);
      expect(await ada.textContent("#status")).toBe(`In room ${room} as ada. No earlier messages.`);
      await joinAs(bob, "bob", room);
      await memberCount(ada, 2);
      await memberCount(bob, 2);
      // The page never asks for or holds the API token: the demo routes make its calls.
      await holdsNoToken(ada);

      await ada.fill("#text", "hello from ada");
      await ada.click("#send");

      const line = await bob.waitForSelector('#messages li:has-text("hello from ada")', { timeout: 10_000 });
      expect(await line.textContent()).toBe("#1adahello from ada");
      expect(await bob.textContent("#member-count")).toBe("2");
      expect(await bob.$$eval("#members li", (items) => items.map((li) => li.textContent))).toEqual(["ada", "bob"]);
      // The sender sees its own message in the room's order too.
      await ada.waitForSelector('#messages li:has-text("hello from ada")', { timeout: 10_000 });

      // A page joining later gets the history on join.
      const cy = await openDemo(problems);
      try {
        await joinAs(cy, "cy", room);
        await cy.waitForSelector('#messages li:has-text("hello from ada")', { timeout: 10_000 });
        await memberCount(cy, 3);
        expect(await cy.textContent("#status")).toBe(`In room ${room} as cy. 1 earlier message.`);
      } finally {
        await cy.close();
      }
      await memberCount(bob, 2);

      mkdirSync(results, { recursive: true });
      await bob.screenshot({ path: join(results, "rooms-bob.png"), fullPage: true });
      await ada.screenshot({ path: join(results, "rooms-ada.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await ada.close();
      await bob.close();
    }
  });

  it("runs a poll: one vote each, tallies the service publishes (a forged count refused), kept for a page that joins again", async () => {
    const room = `demo-poll:e2e-${crypto.randomUUID().slice(0, 8)}`;
    const problems: string[] = [];
    const ada = await openDemo(problems);
    let bob = await openDemo(problems);
    try {
      await joinPoll(ada, "ada", room);
      expect(await ada.textContent("#poll-status")).toBe(`In ${room} as ada: no poll yet, open one.`);
      await ada.fill("#poll-question", "Lunch?");
      await ada.fill("#poll-options", "pizza, soup");
      await ada.click("#poll-open");
      await ada.waitForSelector("#poll-view:not([hidden])", { timeout: 10_000 });
      expect(await ada.textContent("#poll-question-text")).toBe("#1 Lunch?");
      expect(await ada.isHidden("#poll-open-form")).toBe(true);

      await joinPoll(bob, "bob", room);
      expect(await bob.textContent("#poll-question-text")).toBe("#1 Lunch?");
      await bob.click("#poll-choices li:nth-child(2) button");
      await bob.waitForFunction(() => document.querySelector("#poll-status")?.textContent === "Voted for soup.");
      await countShown(ada, 1, 1);
      expect(await pollShown(bob)).toEqual([
        { option: "pizza", count: "0", mine: false, canVote: false },
        { option: "soup", count: "1", mine: true, canVote: false },
      ]);

      // mallory, a member, sends a count of her own: the room refuses it, and the pages' tallies stay the votes.
      const forged = { kind: "poll", round: 1, question: "Lunch?", options: ["pizza", "soup"], tallies: [50, 1] };
      expect(await answerTo(room, "mallory", forged)).toMatchObject({ type: "error", code: "not-a-poll-action" });
      await ada.click("#poll-choices li:nth-child(1) button");
      await countShown(bob, 0, 1);
      expect(await ada.textContent("#poll-total")).toBe("2");
      expect(await pollShown(ada)).toEqual([
        { option: "pizza", count: "1", mine: true, canVote: false },
        { option: "soup", count: "1", mine: false, canVote: false },
      ]);

      // bob opens the page again: the room's welcome says where the poll stands and that he voted for soup.
      await bob.close();
      bob = await openDemo(problems);
      await joinPoll(bob, "bob", room);
      expect(await pollShown(bob)).toEqual([
        { option: "pizza", count: "1", mine: false, canVote: false },
        { option: "soup", count: "1", mine: true, canVote: false },
      ]);
      // Only its owner closes it while she is in the room.
      await bob.click("#poll-close");
      await bob.waitForFunction(() => document.querySelector("#poll-status")?.textContent?.startsWith("Refused"));
      expect(await bob.textContent("#poll-status")).toBe("Refused: Only ada closes this poll while in the room.");
      await ada.click("#poll-close");
      await bob.waitForFunction(() => document.querySelector("#poll-state")?.textContent === "closed");
      expect(await ada.isVisible("#poll-open-form")).toBe(true);

      mkdirSync(results, { recursive: true });
      await bob.screenshot({ path: join(results, "poll-bob.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await ada.close();
      await bob.close();
    }
  });

  it("shows a real job's progress from room job:<id>, and not a member's look-alike posted after it", async () => {
    const run = crypto.randomUUID();
    // A demo job (the page watches only those): calls to the demo upstream's path, here on the loopback upstream.
    const created = await fetch(`${worker.url}/demo/api/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": run },
      body: JSON.stringify({
        type: "fanout",
        requests: [0, 1, 2, 3].map((i) => ({ url: `${upstream.url}/demo/api/upstream/delay?run=${run}&i=${i}` })),
      }),
    });
    expect(created.status).toBe(202);
    const { id, room } = (await created.json()) as { id: string; room: string };
    await waitForJob(id, "succeeded");
    // A member of the job's room posts what a page trusting `kind` would draw as the latest progress.
    await postAsMember(room, "mallory", {
      kind: "job-progress",
      id,
      state: "failed",
      total: 999,
      done: 0,
      failed: 999,
    });

    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      await page.fill("#name", "watcher");
      await page.fill("#job-id", id);
      await page.click("#job-watch");
      await page.waitForFunction(() => (document.querySelector("#job-progress") as HTMLProgressElement).value === 4);
      expect(await page.textContent("#job-status")).toBe(`${id}: succeeded, 4/4 done.`);
      expect(await page.$eval("#job-progress", (p) => (p as HTMLProgressElement).max)).toBe(4);
      mkdirSync(results, { recursive: true });
      await page.screenshot({ path: join(results, "rooms-job.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("counts with the counter panel through the counters API", async () => {
    const name = `demo-e2e-${crypto.randomUUID().slice(0, 8)}`;
    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      await page.fill("#counter-name", name);
      await page.dispatchEvent("#counter-name", "change");
      await page.waitForFunction(() =>
        document.querySelector("#counter-status")?.textContent?.startsWith("Not written"),
      );
      await page.click("#counter-increment");
      await page.waitForFunction(() => document.querySelector("#counter-value")?.textContent === "1");
      await page.click("#counter-increment");
      await page.waitForFunction(() => document.querySelector("#counter-value")?.textContent === "2");
      // The status line follows the value it stands next to.
      expect(await page.textContent("#counter-status")).toMatch(/^Updated /);
      const res = await worker.api(`/v1/counters/${name}`);
      expect(await res.json()).toMatchObject({ name, value: 2 });
      await holdsNoToken(page);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("streams a fan-out into the waterfall: a bar per call from its start, coloured by outcome, retries and timeouts shown", async () => {
    const problems: string[] = [];
    const page = await openDemo(problems);
    const streamed = page.waitForRequest(
      (r) => new URL(r.url()).pathname === "/demo/api/fanout" && r.headers().accept === "application/x-ndjson",
    );
    try {
      await page.fill("#fanout-calls", "100 200\n300 500\n3000 200");
      await page.fill("#fanout-concurrency", "2");
      await page.fill("#fanout-timeout", "1000");
      await page.fill("#fanout-attempts", "2");
      await page.click("#fanout-run");
      await streamed;
      await page.waitForFunction(
        () => document.querySelector("#fanout-status")?.textContent?.startsWith("3 calls"),
        null,
        {
          timeout: 20_000,
        },
      );
      const rows = await page.$$eval("#waterfall li[data-index]", (items) =>
        items.map((li) => ({
          outcome: (li as HTMLElement).dataset.outcome,
          startedMs: Number((li as HTMLElement).dataset.startedMs),
          text: li.querySelector(".bar")?.textContent ?? "",
        })),
      );
      expect(rows.map((r) => r.outcome)).toEqual(["ok", "http-error", "timeout"]);
      expect(rows[0]?.text).toMatch(/^200 · \d+ ms$/);
      // The 500 was tried twice (the retry is visible), the slow call cut at its timeout.
      expect(rows[1]?.text).toMatch(/^500 · \d+ ms ×2$/);
      expect(rows[2]?.text).toMatch(/^timeout · \d+ ms/);
      // Concurrency 2: the third call waited for the first to end before it started.
      expect(rows[2]?.startedMs).toBeGreaterThanOrEqual(100);
      expect(await page.textContent("#fanout-status")).toMatch(
        /^3 calls in \d+ ms at concurrency 2: 1 fulfilled, 2 rejected\.$/,
      );
      mkdirSync(results, { recursive: true });
      await page.screenshot({ path: join(results, "demo-fanout.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("says what Stop does: the page closes the request; locally the calls still running finish unseen", async () => {
    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      await page.fill("#fanout-calls", "50 200\n4000 200");
      await page.fill("#fanout-concurrency", "2");
      await page.fill("#fanout-timeout", "5000");
      await page.fill("#fanout-attempts", "1");
      await page.click("#fanout-run");
      await page.waitForSelector('#waterfall li[data-index="0"][data-outcome="ok"]', { timeout: 10_000 });
      await page.click("#fanout-stop");
      await page.waitForFunction(() => document.querySelector("#fanout-status")?.textContent?.startsWith("Stopped"));
      expect(await page.textContent("#fanout-status")).toBe(
        "Stopped after 1 of 2 results: the page closed the request. Deployed on Cloudflare, the service then aborts " +
          "the calls still running; locally (npm start) it is not told that the page left, so those calls run to " +
          "their end, unseen.",
      );
      expect(await page.textContent('#waterfall li[data-index="1"] .bar')).toBe("not read: stopped");
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("fits a 420 px wide screen: the chat box and its Send button stay inside the room panel", async () => {
    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      await page.setViewportSize({ width: 420, height: 900 });
      await joinAs(page, "narrow", `demo-e2e-${crypto.randomUUID().slice(0, 8)}`);
      const box = (selector: string) =>
        page.$eval(selector, (el) => {
          const r = el.getBoundingClientRect();
          return { left: r.left, right: r.right };
        });
      const panel = await box("#room-panel");
      for (const part of ["#messages", "#text", "#send"]) {
        const b = await box(part);
        expect(b.right, part).toBeLessThanOrEqual(panel.right);
      }
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
      mkdirSync(results, { recursive: true });
      await page.screenshot({ path: join(results, "demo-420px.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("shows two holders contending for one lock: the second waits in line, then holds it with the next fencing token", async () => {
    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      await page.fill("#lock-name", `demo-e2e-${crypto.randomUUID().slice(0, 8)}`);
      await page.click("#lock-contend");
      await page.waitForFunction(
        () =>
          document.querySelector("#holder-b-state")?.textContent === "waiting in line…" &&
          document.querySelector("#lock-holder")?.textContent === "holder-a" &&
          document.querySelector("#lock-waiters")?.textContent === "1",
        null,
        { timeout: 10_000 },
      );
      expect(await page.textContent("#holder-a-state")).toBe("holding · fencing token 1");
      expect(await page.textContent("#lock-token")).toBe("1");
      mkdirSync(results, { recursive: true });
      await page.screenshot({ path: join(results, "demo-lock.png"), fullPage: true });
      await page.waitForFunction(
        () => document.querySelector("#holder-b-state")?.textContent === "holding · fencing token 2",
        null,
        { timeout: 10_000 },
      );
      expect(await page.textContent("#holder-a-state")).toBe("released token 1");
      await page.waitForFunction(() => document.querySelector("#lock-status")?.textContent?.startsWith("Done"), null, {
        timeout: 10_000,
      });
      expect(await page.textContent("#holder-b-state")).toBe("released token 2");
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("creates a job against the demo upstream, fills its progress bar call by call from watch, then lists its results", async () => {
    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      // Every value the bar takes, as the page sets it.
      await page.evaluate(() => {
        const bar = document.querySelector("#job-progress") as HTMLProgressElement;
        const seen: number[] = [];
        (window as unknown as { barValues: number[] }).barValues = seen;
        new MutationObserver(() => seen.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ["value"] });
      });
      // 12 calls of 300 ms, two at a time: one chunk (JOBS_CHUNK_SIZE is 50), six rounds of calls.
      await page.fill("#job-calls", "12");
      await page.fill("#job-delay", "300");
      await page.click("#job-create");
      await page.waitForFunction(() => document.querySelectorAll("#job-results li").length === 12, null, {
        timeout: 30_000,
      });
      const id = await page.inputValue("#job-id");
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(await page.textContent("#job-status")).toBe(`${id}: succeeded, 12/12 done.`);
      expect(await page.$eval("#job-progress", (p) => (p as HTMLProgressElement).value)).toBe(12);
      // The bar moved as calls finished, not from 0 to 12 at the end of the chunk.
      const values = await page.evaluate(() => (window as unknown as { barValues: number[] }).barValues);
      const between = [...new Set(values)].filter((v) => v > 0 && v < 12);
      expect(between.length, `the bar took ${JSON.stringify(values)}`).toBeGreaterThanOrEqual(5);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      // Then each call's result: its index, status and duration.
      const lines = await page.$$eval("#job-results li", (items) => items.map((li) => li.textContent));
      expect(lines).toHaveLength(12);
      for (const [i, text] of lines.entries()) expect(text).toMatch(new RegExp(`^#${i + 1} 200 · \\d+ ms$`));
      expect(await (await worker.api(`/v1/jobs/${id}`)).json()).toMatchObject({
        state: "succeeded",
        total: 12,
        done: 12,
      });
      mkdirSync(results, { recursive: true });
      await page.screenshot({ path: join(results, "demo-job.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("serves the page with a Content-Security-Policy that keeps it to its own origin", async () => {
    const res = await fetch(`${worker.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await res.text()).toContain('<script type="module" src="/app.js">');
  });
});

describe("the API reference at /docs in chromium", () => {
  it("sends a request from the page with the token typed in it, and every request the page makes stays on the origin", async () => {
    const name = `docs-${crypto.randomUUID().slice(0, 8)}`;
    const problems: string[] = [];
    const requests: string[] = [];
    const page = await context.newPage();
    page.on("request", (request) => requests.push(request.url()));
    page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    // Chromium reports every CSP refusal as a console error too; this names the directive and what was refused.
    await page.addInitScript(() =>
      document.addEventListener("securitypolicyviolation", (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
      ),
    );
    try {
      await page.goto(`${worker.url}/docs`);
      await page.getByPlaceholder("Token").first().fill(worker.token);
      // Expand the counters family and open POST /v1/counters/{name}/increment: its request body is documented.
      await page.getByRole("button", { name: "counters" }).first().click();
      await page.getByText("Add `by` atomically").first().click();
      await page
        .getByRole("button", { name: /Test Request.*post \/v1\/counters\/\{name\}\/increment/ })
        .first()
        .click();
      // The client opens with the documented example (path variable and body); aim it at a fresh counter.
      const variable = page
        .locator("[contenteditable]")
        .filter({ hasText: /^orders-2026$/ })
        .first();
      await variable.click();
      await page.keyboard.press("ControlOrMeta+A");
      await page.keyboard.type(name);
      const answered = page.waitForResponse((r) => r.url() === `${worker.url}/v1/counters/${name}/increment`);
      await page
        .getByRole("button", { name: /^Send post request/ })
        .first()
        .click();
      const response = await answered;
      expect(response.status()).toBe(200);
      expect((await response.request().allHeaders()).authorization).toBe(`Bearer ${worker.token}`);
      expect(await response.json()).toMatchObject({ name, value: 1 });
      await page.getByText("200 OK").first().waitFor({ timeout: 10_000 });

      // The server stored it: the page's request was the real one.
      const stored = await worker.api(`/v1/counters/${name}`);
      expect(await stored.json()).toMatchObject({ name, value: 1 });

      mkdirSync(results, { recursive: true });
      await page.screenshot({ path: join(results, "docs.png") });
      expect(requests.filter((url) => new URL(url).origin !== worker.url)).toEqual([]);
      expect(requests).toEqual(
        expect.arrayContaining([
          `${worker.url}/docs`,
          `${worker.url}/docs.js`,
          `${worker.url}/build/scalar/standalone.js`,
          `${worker.url}/openapi.json`,
        ]),
      );
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
    // A hang bound only: Chromium parses Scalar's 4.7 MiB bundle, slow on a loaded 2-core machine.
  }, 120_000);
});
