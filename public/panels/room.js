/**
 * The room panel: join a demo- room, see who is there, chat; history on join. It reads the way asyncio's websockets
 * does: `await room.ready` (the welcome, or why the join was refused), `for await` over the messages and the presence
 * changes, `await room.send()` (the ack, or why the room refused the message), `await room.close()`.
 */
import { $, DEMO_NAME, messageOf, setStatus } from "./dom.js";

/** "No earlier messages.", "1 earlier message.", "3 earlier messages." */
const earlier = (n) => (n === 0 ? "No earlier messages." : `${n} earlier message${n === 1 ? "" : "s"}.`);

export function roomPanel(client) {
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

  const textOf = (data) =>
    data && typeof data === "object" && typeof data.text === "string" ? data.text : JSON.stringify(data);

  const enable = (on) => {
    $("text").disabled = !on;
    $("send").disabled = !on;
  };

  async function join(user, name) {
    await chat?.close();
    $("messages").replaceChildren();
    renderMembers([]);
    enable(false);
    setStatus($("status"), `Joining ${name}…`);
    const room = client.room(name, user);
    chat = room;
    room.on("close", (c) => {
      if (chat !== room) return;
      enable(false);
      setStatus($("status"), `Disconnected (${c.code}${c.reason ? ` ${c.reason}` : ""}); reconnecting…`, true);
    });
    room.on("welcome", (w) => {
      if (chat !== room) return;
      renderMembers(w.members);
      setStatus($("status"), `In room ${name} as ${w.self.user}. ${earlier(w.history.length)}`);
      enable(true);
    });
    try {
      await room.ready;
      $("text").focus();
      void (async () => {
        for await (const change of room.presence()) {
          renderMembers(change.members);
          for (const who of change.joined) addLine([[`${who} joined`]], "system");
          for (const who of change.left) addLine([[`${who} left`]], "system");
        }
      })();
      for await (const m of room) addLine([[`#${m.seq}`, "seq"], [m.from, "from"], [textOf(m.data)]]);
    } catch (err) {
      // The join was refused (its problem's detail), or the room closed for a reason reconnecting would not fix.
      if (chat === room) setStatus($("status"), messageOf(err), true);
    }
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

  $("send-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    const room = chat;
    if (!text || !room) return;
    $("text").value = "";
    try {
      await room.send({ text });
    } catch (err) {
      if (chat === room) setStatus($("status"), `Not sent: ${messageOf(err)}`, true);
    }
  });

  $("name").value = localStorage.getItem("edgeloop-name") ?? "";
}
