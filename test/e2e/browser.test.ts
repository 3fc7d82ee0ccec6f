/**
 * The demo page in a real browser: headless Chromium from npm (@sparticuz/chromium), driven by playwright-core, against the built
 * worker on Miniflare. Two pages join one room; one sends; the other shows the message and the member count.
 * And the API reference at /docs (Scalar): a request sent from the page, and not one request leaving the origin.
 * A screenshot of each page goes to test-results/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { useWorker } from "./support/worker.ts";

const root = new URL("../../", import.meta.url).pathname;
const results = join(root, "test-results");

// Registered before the browser's hooks: started first, stopped last (after-hooks run in reverse).
const worker = useWorker({ ROOM_TICKET_SECRET: "e2e-ticket-secret", DEMO_MODE: "true" });
let browser: TestBrowser;
let context: BrowserContext;

beforeAll(async () => {
  browser = await launchBrowser({ viewport: { width: 1200, height: 760 } });
  context = browser.context;
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

/** Open the demo page and collect what would show a broken page: script errors and CSP refusals. */
async function openDemo(problems: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy|Uncaught|SyntaxError/.test(msg.text())) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  await page.goto(`${worker.url}/`);
  return page;
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

describe("the demo page in chromium", () => {
  it("lets two pages chat in one room: the other page shows the message and the member count; a later page gets the history", async () => {
    const room = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    const problems: string[] = [];
    const ada = await openDemo(problems);
    const bob = await openDemo(problems);
    try {
      await joinAs(ada, "ada", room);
      await joinAs(bob, "bob", room);
      await memberCount(ada, 2);
      await memberCount(bob, 2);
      // DEMO_MODE supplied the token: the page does not ask for one.
      expect(await ada.isHidden("#token-label")).toBe(true);

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
        expect(await cy.textContent("#status")).toContain("1 earlier message(s)");
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

  it("shows a job's progress from the job-progress messages posted into room job:<id>", async () => {
    const id = crypto.randomUUID();
    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      const post = (done: number, state: string) =>
        worker.api(`/v1/rooms/job:${id}/messages`, {
          method: "POST",
          json: { from: "jobs", data: { kind: "job-progress", id, state, total: 4, done, failed: 0 } },
        });
      expect((await post(1, "running")).status).toBe(201);
      await page.fill("#name", "watcher");
      await page.fill("#job-id", id);
      await page.click("#job-watch");
      // History on join: the progress so far.
      await page.waitForFunction(() => (document.querySelector("#job-progress") as HTMLProgressElement).value === 1);
      expect((await post(4, "succeeded")).status).toBe(201);
      await page.waitForFunction(() => (document.querySelector("#job-progress") as HTMLProgressElement).value === 4);
      expect(await page.textContent("#job-status")).toBe(`${id}: succeeded, 4/4 done.`);
      mkdirSync(results, { recursive: true });
      await page.screenshot({ path: join(results, "rooms-job.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("counts with the counter panel through the counters API", async () => {
    const name = `e2e-${crypto.randomUUID().slice(0, 8)}`;
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
      const res = await worker.api(`/v1/counters/${name}`);
      expect(await res.json()).toMatchObject({ name, value: 2 });
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
