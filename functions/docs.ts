/**
 * GET /docs: a self-contained page listing every operation of /openapi.json (no CDN: it works offline,
 * on a laptop as on the edge).
 */
import { Hono } from "hono";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgeloop API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
details{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}
summary{cursor:pointer} code{font:13px ui-monospace,monospace}
.m{display:inline-block;width:4.5rem;font-weight:600;text-transform:uppercase}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:12px}
</style></head><body>
<h1>edgeloop API</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Every <code>/v1</code> call needs
<code>Authorization: Bearer &lt;API_TOKEN&gt;</code>; errors are <code>application/problem+json</code>.</p>
<div id="ops">Loading…</div>
<script type="module">
const doc = await (await fetch("/openapi.json")).json();
const byTag = new Map();
for (const [path, item] of Object.entries(doc.paths ?? {}))
  for (const [method, op] of Object.entries(item)) {
    const tag = op.tags?.[0] ?? "other";
    if (!byTag.has(tag)) byTag.set(tag, []);
    byTag.get(tag).push({ path, method, op });
  }
const root = document.getElementById("ops");
root.textContent = "";
const el = (tag, text) => { const e = document.createElement(tag); if (text) e.textContent = text; return e; };
for (const [tag, ops] of byTag) {
  root.append(el("h2", tag));
  for (const { path, method, op } of ops) {
    const d = el("details"), s = el("summary"), m = el("span", method);
    m.className = "m"; s.append(m, el("code", path), " — " + (op.summary ?? ""));
    const body = op.requestBody?.content?.["application/json"]?.schema;
    d.append(s);
    if (op.description) d.append(el("p", op.description));
    if (body) { d.append(el("strong", "Request body")); d.append(el("pre", JSON.stringify(body, null, 2))); }
    d.append(el("strong", "Responses: " + Object.keys(op.responses ?? {}).join(", ")));
    root.append(d);
  }
}
</script></body></html>`;

export const docs = new Hono().get("/docs", (c) => c.html(PAGE));
