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

/** The demo calls the worker's own demo upstream, on this origin (`npm start` allows it as 127.0.0.1:8787). */
export const upstreamUrl = (ms, status = 200) => `${location.origin}/demo/api/upstream/delay?ms=${ms}&status=${status}`;
