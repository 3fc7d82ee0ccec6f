/** The room panel: join a demo- room, see who is there, chat; history on join (`client.room(name, user)`). */
import { $, DEMO_NAME, setStatus } from "./dom.js";

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

  function join(user, room) {
    chat?.close();
    $("messages").replaceChildren();
    renderMembers([]);
    setStatus($("status"), `Joining ${room}…`);
    chat = client.room(room, user);
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

  $("name").value = localStorage.getItem("edgeloop-name") ?? "";
}
