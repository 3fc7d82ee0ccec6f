/**
 * The poll panel: a room of the poll kind (`demo-poll:…`). The welcome's `reply` says where the poll stands and what
 * this member voted; every change after comes as a message the service published (`pollOf` reads only those, never a
 * member's look-alike); a vote's ack carries the room's answer to the voter only (`reply: {voted}`); a refused vote,
 * open or close is an EdgeloopError with the kind's problem type and detail, shown in the status line.
 */
import { pollOf } from "../build/client.js";
import { $, messageOf, setStatus } from "./dom.js";

const POLL_ROOM = /^demo-poll:[A-Za-z0-9._:-]{1,27}$/;

export function pollPanel(client) {
  /** The member's room, the poll as last published, and this member's vote in it. */
  let room;
  let poll = null;
  let mine;
  const status = (text, isError) => setStatus($("poll-status"), text, isError);

  function render() {
    $("poll-open-form").hidden = !room || (poll !== null && !poll.closed);
    $("poll-view").hidden = poll === null;
    if (poll === null) return;
    const total = poll.tallies.reduce((a, b) => a + b, 0);
    $("poll-question-text").textContent = `#${poll.round} ${poll.question}`;
    $("poll-choices").replaceChildren(
      ...poll.options.map((option, i) => {
        const li = document.createElement("li");
        if (i === mine) li.className = "mine";
        const vote = document.createElement("button");
        vote.type = "button";
        vote.textContent = "Vote";
        vote.disabled = poll.closed || mine !== undefined;
        vote.addEventListener("click", () => act({ vote: i }, `Voted for ${option}.`));
        const label = document.createElement("span");
        label.className = "choice";
        label.textContent = option;
        const bar = document.createElement("progress");
        bar.max = Math.max(total, 1);
        bar.value = poll.tallies[i];
        const count = document.createElement("span");
        count.className = "count";
        count.textContent = String(poll.tallies[i]);
        li.append(vote, label, bar, count);
        return li;
      }),
    );
    $("poll-total").textContent = String(total);
    $("poll-owner").textContent = poll.owner;
    $("poll-state").textContent = poll.closed ? "closed" : "open";
    $("poll-close").hidden = poll.closed;
  }

  /** Send an action; the room answers with the ack (and its reply), or refuses with the kind's problem. */
  async function act(action, done) {
    const at = room;
    try {
      const ack = await at.send(action);
      if (at !== room) return;
      if (ack.reply && typeof ack.reply.voted === "number") mine = ack.reply.voted;
      render();
      status(done);
    } catch (err) {
      if (at === room) status(`Refused: ${messageOf(err)}`, true);
    }
  }

  async function join(user, name) {
    await room?.close();
    const at = client.room(name, user);
    room = at;
    poll = null;
    mine = undefined;
    render();
    status(`Joining ${name}…`);
    // Each welcome (reconnections too) says where the poll stands and what this member voted in it.
    at.on("welcome", (w) => {
      if (at !== room) return;
      poll = w.reply?.poll ?? null;
      mine = w.reply?.voted;
      render();
    });
    try {
      await at.ready;
      status(poll ? `In ${name} as ${user}.` : `In ${name} as ${user}: no poll yet, open one.`);
      for await (const m of at) {
        const next = pollOf(m);
        if (!next || at !== room) continue;
        if (poll && next.round !== poll.round) mine = undefined;
        poll = next;
        render();
      }
    } catch (err) {
      if (at === room) status(messageOf(err), true);
    }
  }

  $("poll-join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const user = $("poll-user").value.trim();
    const name = $("poll-room").value.trim();
    if (!user || !POLL_ROOM.test(name)) return status("Pick a name and a room named demo-poll:…", true);
    localStorage.setItem("edgeloop-name", user);
    join(user, name);
  });

  $("poll-open-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("poll-question").value.trim();
    const options = $("poll-options")
      .value.split(",")
      .map((o) => o.trim())
      .filter(Boolean);
    act({ open: { question, options } }, `Opened "${question}".`);
  });

  $("poll-close").addEventListener("click", () => act({ close: true }, "Closed."));

  $("poll-user").value = localStorage.getItem("edgeloop-name") ?? "";
}
