/**
 * `npm start` as a newcomer runs it, on a port of their choosing (`npm start -- --port <port>`): wrangler dev with the
 * dev values, and the demo page in headless Chromium. The fan-out panel (with the upstream's deliberate 500 and 503)
 * and the job panel work, because FANOUT_ALLOW_HOSTS names the address it serves (scripts/start.ts); the deliberate
 * error answers of the demo upstream print no error block in the terminal; and nothing leaves loopback (wrangler's
 * banner and its update check, metrics and `Request.cf` lookup are off, and a preloaded probe reports every socket).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, type TestBrowser } from "./support/browser.ts";
import { type NpmStart, npmStart, stopGroup } from "./support/npm-start.ts";

const root = new URL("../../", import.meta.url).pathname;

let state: string;
let started: NpmStart;
let browser: TestBrowser;

beforeAll(async () => {
  state = mkdtempSync(join(tmpdir(), "edgeloop-start-"));
  started = await npmStart({
    persistTo: state,
    env: { NODE_OPTIONS: `--import=${pathToFileURL(join(root, "test/e2e/support/no-network.mjs")).href}` },
  });
  browser = await launchBrowser({ viewport: { width: 1200, height: 900 } });
}, 150_000);

afterAll(async () => {
  await browser?.close();
  if (started) await stopGroup(started, "SIGTERM");
  rmSync(state, { recursive: true, force: true });
});

async function openDemo(problems: string[]): Promise<Page> {
  const page = await browser.context.newPage();
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  // The address wrangler dev prints ("Ready on http://localhost:<port>").
  await page.goto(`http://localhost:${started.port}/`);
  return page;
}

describe("npm start -- --port <port>", () => {
  it("serves a demo whose fan-out and job panels work on that port, without error blocks in the terminal", async () => {
    expect(started.output()).toContain(
      `edgeloop dev: the demo's upstream is allowed at 127.0.0.1:${started.port},[::1]:${started.port} (FANOUT_ALLOW_HOSTS)`,
    );
    const problems: string[] = [];
    const page = await openDemo(problems);
    try {
      // The panel's own calls: 200s, a 500 and a 503 (retried), a call past its timeout.
      await page.click("#fanout-run");
      await page.waitForFunction(
        () => document.querySelector("#fanout-status")?.textContent?.startsWith("6 calls"),
        null,
        { timeout: 30_000 },
      );
      const outcomes = await page.$$eval("#waterfall li[data-index]", (items) =>
        items.map((li) => (li as HTMLElement).dataset.outcome),
      );
      expect(outcomes).toEqual(["ok", "ok", "http-error", "http-error", "timeout", "ok"]);

      await page.fill("#name", "watcher");
      await page.fill("#job-calls", "4");
      await page.fill("#job-delay", "100");
      await page.click("#job-create");
      await page.waitForFunction(() => document.querySelectorAll("#job-results li").length === 4, null, {
        timeout: 30_000,
      });
      expect(await page.textContent("#job-status")).toMatch(/^[0-9a-f]{32}: succeeded, 4\/4 done\.$/);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
    // The upstream answered 500 and 503 as asked (twice each): a result, not a failure of the server.
    expect(started.output()).not.toContain("✘ [ERROR]");
    expect(started.output()).not.toMatch(/"level":"error"/);
    // Only loopback: every socket the tools opened went to 127.0.0.1 or ::1.
    const sockets = [...started.output().matchAll(/^network: tcp (\S+)$/gm)].map((m) => m[1] as string);
    expect(sockets.filter((address) => !/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1):\d+$/.test(address))).toEqual([]);
    expect(started.output()).not.toMatch(/^network: (udp|dns \w+ (?!(localhost|127\.0\.0\.1|::1)$))/m);
  }, 120_000);
});
