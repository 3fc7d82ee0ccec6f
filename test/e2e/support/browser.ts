/**
 * A headless Chromium for the e2e tests, from npm: `@sparticuz/chromium` ships the browser inside its package and
 * unpacks it on first use (about 2 s), so `npm install && npm test` needs no system browser and no download.
 * playwright-core drives it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sparticuz from "@sparticuz/chromium";
import { type BrowserContext, chromium } from "playwright-core";

/**
 * Flags of @sparticuz/chromium that weaken the page's security model. The tests check what a real browser
 * enforces (CSP, same-origin), so those are left out.
 */
const WEAKENING = new Set(["--disable-web-security", "--allow-running-insecure-content"]);

/** This machine's network is closed: without these, Chromium keeps trying to reach Google's services. */
const QUIET = [
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launch headless Chromium with a fresh, empty profile. */
export async function launchBrowser(
  options: { viewport?: { width: number; height: number } } = {},
): Promise<TestBrowser> {
  const executablePath = await sparticuz.executablePath();
  const profile = mkdtempSync(join(tmpdir(), "edgeloop-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...sparticuz.args.filter((a) => !WEAKENING.has(a)), ...QUIET],
    ...(options.viewport ? { viewport: options.viewport } : {}),
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
