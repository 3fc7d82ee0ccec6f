/** What the panels share: finding elements and writing a status line. */

export const $ = (id) => document.getElementById(id);

/** A demo- name, as the demo routes take them. */
export const DEMO_NAME = /^demo-[A-Za-z0-9._:-]{1,32}$/;

export function setStatus(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}

/** What an error says: an EdgeloopError's problem detail, or the error's message. */
export const messageOf = (err) => err?.detail ?? err?.message ?? String(err);

/**
 * The demo calls the worker's own demo upstream, on this port. `npm start` allows it as 127.0.0.1:8787 (its
 * FANOUT_ALLOW_HOSTS lists that host only), so a page opened at http://localhost:8787 names the same server by its
 * address.
 */
export const upstreamUrl = (ms, status = 200) => {
  const url = new URL("/demo/api/upstream/delay", location.origin);
  if (url.hostname === "localhost") url.hostname = "127.0.0.1";
  url.search = new URLSearchParams({ ms: String(ms), status: String(status) }).toString();
  return url.href;
};
