/**
 * GET /docs: Scalar's interactive API reference over /openapi.json, all from this origin. The page loads its
 * configuration (public/docs.js) and Scalar's standalone bundle (public/build/scalar/standalone.js, copied from the
 * pinned @scalar/api-reference npm package by scripts/build-client.ts): no CDN, no Scalar service, no web fonts.
 * "Test Request" sends requests to this origin, with the bearer token typed in the page.
 */
import { Hono } from "hono";

/**
 * The page's Content-Security-Policy: scripts and network requests from this origin only (no inline script, no
 * eval), nothing else loaded. Styles may be inline: Scalar injects two stylesheets, one without the CSP nonce it
 * supports, and sets style attributes, which no nonce covers (measured in Chromium; test/e2e/browser.test.ts fails
 * on any violation).
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeloop API</title>
</head>
<body>
<div id="app"></div>
<script src="/docs.js"></script>
<script src="/build/scalar/standalone.js"></script>
</body>
</html>
`;

export const docs = new Hono().get("/docs", (c) => {
  c.header("content-security-policy", DOCS_CSP);
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
  return c.html(PAGE);
});
