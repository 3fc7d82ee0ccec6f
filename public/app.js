/**
 * The demo page: join a room and chat (members, history on join), a live counter, and a job's progress bar
 * (the progress the service publishes into room `job:<id>`, read by RoomClient's jobProgress event). Plain ES modules;
 * the rooms client is src/client/rooms.ts bundled by scripts/build-client.ts into /build/rooms.js (wrangler runs it
 * before dev and deploy).
 *
 * The page never holds the API token: it calls the demo routes (/demo/api/…, served only with DEMO_MODE, as
 * `npm start` sets it), which make its few calls server-side. Rooms are named demo-…, counters too.
 */
import { RoomClient } from "./build/rooms.js";

const $ = (id) => document.getElementById(id);
const DEMO_NAME = /^demo-[A-Za-z0-9._:-]{1,32}$/;
const JOB_ID = /^[0-9a-f]{32}$/;

/** A demo route: its JSON, or an Error carrying the problem's detail. */
async function demoApi(path, init = {}) {
  const res = await fetch(`/demo/api/${path}`, {
    ...init,
    headers: init.body ? { "content-type": "application/json" } : {},
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (body.type === "urn:edgeloop:problem:demo-off") demoOff();
    throw new Error(body.detail ?? `${res.status} ${res.statusText}`);
  }
  return body;
}

async function getTicket(room, user) {
  const { ticket } = await demoApi(`rooms/${encodeURIComponent(room)}/tickets`, {
    method: "POST",
    body: JSON.stringify({ user }),
  });
  return ticket;
}

/** The server runs without DEMO_MODE: say how to get the demo, once. */
function demoOff() {
  $("demo-off").hidden = false;
}

function setStatus(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}

/* ---------- room ---------- */

let chat;

function renderMembers(members) {
  $("members").replaceChildren(
    ...members.map((m) => {
      const li = document.createElement("li");
      li.textContent = m;
      return li;
    }),
  );
  $("member-count").textContent = String(members.length);
  $("member-word").textContent = members.length === 1 ? "member" : "members";
}

function addLine(parts, className) {
  const li = document.createElement("li");
  if (className) li.className = className;
  for (const [text, cls] of parts) {
    const span = document.createElement("span");
    if (cls) span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  const list = $("messages");
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function textOf(data) {
  if (data && typeof data === "object" && typeof data.text === "string") return data.text;
  return JSON.stringify(data);
}

function join(user, room) {
  chat?.close();
  $("messages").replaceChildren();
  renderMembers([]);
  setStatus($("status"), `Joining ${room}…`);
  chat = new RoomClient({ room, user, getTicket });
  chat.on("welcome", (w) => {
    renderMembers(w.members);
    setStatus($("status"), `In room ${room} as ${w.self.user}. ${w.history.length} earlier message(s).`);
    $("text").disabled = false;
    $("send").disabled = false;
    $("text").focus();
  });
  chat.on("message", (m) => addLine([[`#${m.seq}`, "seq"], [m.from, "from"], [textOf(m.data)]]));
  chat.on("presence", (p) => {
    renderMembers(p.members);
    for (const user of p.joined) addLine([[`${user} joined`]], "system");
    for (const user of p.left) addLine([[`${user} left`]], "system");
  });
  chat.on("error", (e) => setStatus($("status"), e.message, true));
  chat.on("close", (c) => {
    $("text").disabled = true;
    $("send").disabled = true;
    setStatus($("status"), `Disconnected (${c.code}${c.reason ? ` ${c.reason}` : ""}); reconnecting…`, true);
  });
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const user = $("name").value.trim();
  const room = $("room").value.trim();
  if (!user || !DEMO_NAME.test(room)) {
    return setStatus($("status"), "Pick a name and a room named demo-… (A-Z a-z 0-9 . _ : -).", true);
  }
  localStorage.setItem("edgeloop-name", user);
  join(user, room);
});

$("send-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text || !chat) return;
  chat.send({ text });
  $("text").value = "";
});

/* ---------- counter ---------- */

async function refreshCounter() {
  const name = $("counter-name").value.trim();
  if (!DEMO_NAME.test(name)) return;
  try {
    const body = await demoApi(`counters/${encodeURIComponent(name)}`);
    $("counter-value").textContent = String(body.value);
    // A counter never written reads 0 with updatedAt null.
    setStatus(
      $("counter-status"),
      body.updatedAt === null
        ? "Not written yet: +1 creates it."
        : `Updated ${new Date(body.updatedAt).toLocaleTimeString()}.`,
    );
  } catch (err) {
    setStatus($("counter-status"), String(err.message ?? err), true);
  }
}

$("counter-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("counter-name").value.trim();
  if (!DEMO_NAME.test(name)) return setStatus($("counter-status"), "Counter names: demo-… (A-Z a-z 0-9 . _ : -)", true);
  try {
    const { value } = await demoApi(`counters/${encodeURIComponent(name)}/increment`, { method: "POST" });
    $("counter-value").textContent = String(value);
  } catch (err) {
    setStatus($("counter-status"), err.message, true);
  }
});
$("counter-name").addEventListener("change", refreshCounter);

/* ---------- job progress ---------- */

let jobWatch;

function showProgress(p) {
  const total = Math.max(p.total, 0);
  $("job-progress").max = total || 1;
  $("job-progress").value = Math.min(p.done + p.failed, total);
  setStatus(
    $("job-status"),
    `${p.id}: ${p.state}, ${p.done}/${total} done${p.failed ? `, ${p.failed} failed` : ""}.`,
    p.state === "failed",
  );
}

$("job-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("job-id").value.trim();
  const room = `job:${id}`;
  if (!JOB_ID.test(id)) return setStatus($("job-status"), "A job id is 32 characters of 0-9 a-f.", true);
  jobWatch?.close();
  $("job-progress").value = 0;
  setStatus($("job-status"), `Watching ${room}…`);
  jobWatch = new RoomClient({ room, user: $("name").value.trim() || "watcher", getTicket });
  // Only what the service published (server: true, from "jobs"): a member's look-alike never moves the bar.
  jobWatch.on("jobProgress", showProgress);
  jobWatch.on("welcome", (w) => {
    if (w.history.length === 0) setStatus($("job-status"), `Watching ${room}: no progress yet.`);
  });
});

/* ---------- start ---------- */

$("name").value = localStorage.getItem("edgeloop-name") ?? "";
refreshCounter();
setInterval(() => {
  if (document.visibilityState === "visible") refreshCounter();
}, 2_000);
