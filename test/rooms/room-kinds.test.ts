/**
 * Room kinds without a socket: the registry (a room's kind by its name), the runner (each hook's writes kept whole or
 * not at all, a refusal or a failure turned into what the member is told, the state's bound), and the poll's hooks
 * (tallies only the room changes, one vote per user and poll, named voters, its owner closing it, chat lines cleaned);
 * and the same runner over a Room object's SQLite table (a transaction per hook).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KindRunner, type KindState, type MessageOutcome, memoryRows, type RoomKind } from "../../src/rooms/kind";
import { chat, kindOf } from "../../src/rooms/kinds";
import { poll } from "../../src/rooms/poll";
import { type PollState, pollOf, type RoomMessage } from "../../src/rooms/protocol";
import { kindRows } from "../../src/rooms/room";

const MAX = 4_096;

describe("the kind registry", () => {
  it.each([
    ["poll:lunch", "poll"],
    ["demo-poll:lunch", "poll"],
    ["lobby", "chat"],
    ["job:123", "chat"],
    ["xpoll:lunch", "chat"],
    ["demo-poll-lunch", "chat"],
    ["Poll:lunch", "chat"],
    // A room of a namespace: its object is `<namespace>/<room>`, its kind the room name's.
    ["acme/poll:lunch", "poll"],
    ["poll:acme/lobby", "chat"],
  ])("gives room %s the kind %s", (room, kind) => {
    expect(kindOf(room).name).toBe(kind);
  });

  it("keeps the chat room without hooks: a message goes out as sent", () => {
    expect(chat).toEqual({ name: "chat" });
    const runner = new KindRunner(chat, "lobby", memoryRows(), MAX, () => []);
    expect(runner.message("ada", { text: "hi", extra: 1 })).toEqual({
      broadcast: { data: { text: "hi", extra: 1 } },
      publish: [],
    });
    expect(runner.join("ada")).toEqual({ publish: [] });
  });
});

/** A kind that does what its messages say, to drive the runner. */
const scripted: RoomKind = {
  name: "scripted",
  onJoin: ({ user, state, members }) => {
    if (user === "mallory") return { refuse: { type: "not-welcome", detail: "mallory may not join" } };
    if (user === "crash") throw new Error("join hook bug");
    state.set(`joined:${user}`, members());
    return { reply: { hello: user }, publish: [{ joined: user }] };
  },
  onMessage: ({ user, state, data }) => {
    const d = data as { write?: number; end?: "throw" | "refuse"; big?: number; reply?: boolean };
    if (d.write !== undefined) state.set("n", d.write);
    if (d.big !== undefined) state.set(`big:${user}`, "x".repeat(d.big));
    if (d.end === "throw") throw new Error("message hook bug");
    if (d.end === "refuse") return { refuse: { type: "nope", detail: "refused", status: 409 } };
    if (d.reply) return { reply: { n: state.get("n") } };
    return { broadcast: { by: user, ...d }, publish: [{ n: state.get("n") }] };
  },
  onLeave: ({ user, state, members }) => {
    state.set(`left:${user}`, members());
  },
};

function runnerOf(kind: RoomKind, members: string[] = []) {
  const rows = memoryRows();
  const errors: [string, string][] = [];
  const runner = new KindRunner(
    kind,
    "room-x",
    rows,
    MAX,
    () => members,
    (hook, e) => errors.push([hook, String(e)]),
  );
  return { runner, rows, errors };
}

describe("KindRunner", () => {
  it("lets a join in with the kind's reply and what it publishes, telling the hook who is already there", () => {
    const { runner, rows } = runnerOf(scripted, ["bob"]);
    expect(runner.join("ada")).toEqual({ publish: [{ joined: "ada" }], reply: { hello: "ada" } });
    expect(rows.get("joined:ada")).toBe('["bob"]');
  });

  it("refuses a join with 403 and the kind's type and detail", () => {
    expect(runnerOf(scripted).runner.join("mallory")).toEqual({
      refused: { status: 403, type: "not-welcome", detail: "mallory may not join" },
    });
  });

  it("refuses a join whose hook throws with 500 kind-failed, without its message, and reports the error", () => {
    const { runner, errors } = runnerOf(scripted);
    const verdict = runner.join("crash");
    expect(verdict).toEqual({
      refused: {
        status: 500,
        type: "kind-failed",
        detail: "The room's scripted onJoin hook failed: nothing of it was applied.",
      },
    });
    expect(JSON.stringify(verdict)).not.toContain("join hook bug");
    expect(errors).toEqual([["onJoin", "Error: join hook bug"]]);
  });

  it("broadcasts a message as the kind changed it, then what it publishes", () => {
    const { runner } = runnerOf(scripted);
    expect(runner.message("ada", { write: 7 })).toEqual({
      broadcast: { data: { by: "ada", write: 7 } },
      publish: [{ n: 7 }],
    });
  });

  it("answers the sender only when the kind says so", () => {
    const { runner } = runnerOf(scripted);
    runner.message("ada", { write: 3 });
    expect(runner.message("ada", { reply: true })).toEqual({ publish: [], reply: { n: 3 } });
  });

  it("turns a refusal into an error frame with the kind's type, detail and status, and keeps none of its writes", () => {
    const { runner, rows } = runnerOf(scripted);
    runner.message("ada", { write: 1 });
    expect(runner.message("ada", { write: 2, end: "refuse" })).toEqual({
      error: { code: "nope", message: "refused", status: 409 },
    });
    // A refusal is an answer, not a failure: what the hook wrote before it stays (the hook decides).
    expect(rows.get("n")).toBe("2");
  });

  it("keeps none of the writes of a hook that throws, tells the member kind-failed and goes on", () => {
    const { runner, rows, errors } = runnerOf(scripted);
    runner.message("ada", { write: 1 });
    expect(runner.message("ada", { write: 2, end: "throw" })).toEqual({
      error: {
        code: "kind-failed",
        message: "The room's scripted onMessage hook failed: nothing of it was applied.",
        status: 500,
      },
    });
    expect(rows.get("n")).toBe("1");
    expect(errors).toEqual([["onMessage", "Error: message hook bug"]]);
    expect(runner.message("bob", { write: 5 })).toMatchObject({ publish: [{ n: 5 }] });
  });

  it("treats an answer that is not one (not an object, publish not a list of JSON values) as a failure", () => {
    const answers: unknown[] = ["ok", null, { publish: { n: 1 } }, { publish: [1, undefined] }];
    const odd: RoomKind = {
      name: "odd",
      onJoin: ({ state }) => {
        state.set("joined", true);
        return { publish: "everyone" as unknown as unknown[] };
      },
      onMessage: ({ state, data }) => {
        state.set("n", data);
        return answers[data as number] as MessageOutcome;
      },
    };
    const { runner, rows, errors } = runnerOf(odd);
    for (let i = 0; i < answers.length; i++) {
      expect(runner.message("ada", i)).toMatchObject({ error: { code: "kind-failed", status: 500 } });
    }
    expect(runner.join("ada")).toMatchObject({ refused: { status: 500, type: "kind-failed" } });
    expect(rows.keys("")).toEqual([]);
    expect(errors.map(([hook]) => hook)).toEqual(["onMessage", "onMessage", "onMessage", "onMessage", "onJoin"]);
  });

  it("calls onLeave with who is still there, its writes kept", () => {
    const { runner, rows } = runnerOf(scripted, ["bob"]);
    runner.leave("ada");
    expect(rows.get("left:ada")).toBe('["bob"]');
  });

  it("bounds the state to ROOM_KIND_STATE_BYTES: a write past it undoes the hook and names the setting", () => {
    const { runner, rows } = runnerOf(scripted);
    // "big:ada" (7 bytes) + a JSON string of 3,000 characters (3,002 bytes).
    expect(runner.message("ada", { big: 3_000 })).toMatchObject({ publish: [{}] });
    expect(runner.bytes).toBe(3_009);
    expect(runner.message("bob", { write: 9, big: 1_100 })).toEqual({
      error: {
        code: "kind-state-full",
        message: "Refused: the room's state would exceed ROOM_KIND_STATE_BYTES (4096 bytes).",
        status: 413,
      },
    });
    expect(rows.get("n")).toBeUndefined();
    expect(rows.get("big:bob")).toBeUndefined();
    expect(runner.bytes).toBe(3_009);
    // Replacing a value counts the new one instead of the old.
    expect(runner.message("ada", { big: 4_000 })).toMatchObject({ publish: [{}] });
    expect(runner.bytes).toBe(4_009);
  });

  it("counts the bytes a state holds from its rows when it starts, and after each write and delete", () => {
    const rows = memoryRows();
    rows.put("a", '"é"');
    const runner = new KindRunner(
      {
        name: "counting",
        onMessage: ({ state, data }) => {
          const s = state as KindState;
          if (data === "delete") s.delete("a");
          else s.set("b", data);
          return { reply: { bytes: s.bytes, keys: s.keys("") } };
        },
      },
      "r",
      rows,
      MAX,
      () => [],
    );
    expect(runner.bytes).toBe(5);
    expect(runner.message("ada", [1, 2])).toEqual({ publish: [], reply: { bytes: 11, keys: ["a", "b"] } });
    expect(runner.message("ada", "delete")).toEqual({ publish: [], reply: { bytes: 6, keys: ["b"] } });
  });
});

/** The poll's hooks through the runner, as the room calls them; `present` is who is in the room. */
function pollRoom(present: string[] = ["ada", "bob", "cy"]) {
  const rows = memoryRows();
  const runner = new KindRunner(poll, "poll:lunch", rows, MAX, () => present);
  return { runner, rows, present };
}

const LUNCH = { open: { question: "Lunch?", options: ["pizza", "soup", "salad"] } };

const published = (verdict: unknown): PollState => {
  const v = verdict as { publish: PollState[] };
  expect(v.publish).toHaveLength(1);
  return v.publish[0] as PollState;
};

const refusal = (verdict: unknown) => (verdict as { error: { code: string; status: number } }).error;

describe("the poll kind", () => {
  it("opens a poll, counts each vote once and publishes the tallies after every change", () => {
    const { runner } = pollRoom();
    expect(published(runner.message("ada", LUNCH))).toEqual({
      kind: "poll",
      round: 1,
      question: "Lunch?",
      options: ["pizza", "soup", "salad"],
      tallies: [0, 0, 0],
      owner: "ada",
      closed: false,
    });
    const bob = runner.message("bob", { vote: 1 });
    expect(bob).toMatchObject({ reply: { voted: 1 } });
    expect(published(bob).tallies).toEqual([0, 1, 0]);
    expect(published(runner.message("cy", { vote: 1 })).tallies).toEqual([0, 2, 0]);
    expect(published(runner.message("ada", { vote: 0 })).tallies).toEqual([1, 2, 0]);
  });

  it("refuses a second vote of the same user, and a vote for someone else or with a forged count", () => {
    const { runner } = pollRoom();
    runner.message("ada", LUNCH);
    runner.message("bob", { vote: 0 });
    expect(refusal(runner.message("bob", { vote: 2 }))).toEqual({
      code: "already-voted",
      message: "bob has voted in this poll already: one vote each.",
      status: 409,
    });
    for (const forged of [
      { vote: 1, user: "cy" },
      { kind: "poll", round: 1, question: "Lunch?", options: ["pizza", "soup", "salad"], tallies: [0, 0, 99] },
      { tallies: [0, 0, 99] },
      "vote 2",
      [{ vote: 2 }],
      null,
    ]) {
      expect(refusal(runner.message("cy", forged))).toMatchObject({ code: "not-a-poll-action", status: 400 });
    }
    // Nothing forged counted: cy's one vote is still to be had, and the tallies are the votes.
    expect(published(runner.message("cy", { vote: 2 })).tallies).toEqual([1, 0, 1]);
  });

  it.each([[-1], [3], [1.5], ["1"], [null]])("refuses the vote %j with bad-vote", (choice) => {
    const { runner } = pollRoom();
    runner.message("ada", LUNCH);
    expect(refusal(runner.message("bob", { vote: choice }))).toEqual({
      code: "bad-vote",
      message: "A vote is the index of an option, 0 to 2.",
      status: 400,
    });
  });

  it("refuses votes with no open poll, and a poll that is not well formed", () => {
    const { runner } = pollRoom();
    expect(refusal(runner.message("bob", { vote: 0 }))).toMatchObject({ code: "poll-not-open", status: 409 });
    for (const spec of [
      { question: "", options: ["a", "b"] },
      { question: "Q?", options: ["only one"] },
      { question: "Q?", options: ["a", " "] },
      { question: "Q?", options: Array.from({ length: 11 }, (_, i) => `o${i}`) },
      { question: "x".repeat(201), options: ["a", "b"] },
      { question: "Q?", options: ["a", "b"], voters: [] },
      { question: "Q?", options: ["a", "b"], voters: "ada" },
    ]) {
      expect(refusal(runner.message("ada", { open: spec }))).toMatchObject({ code: "bad-poll", status: 400 });
    }
  });

  it("lets only the owner close an open poll while the owner is there, then anyone; a closed poll takes no votes", () => {
    const present = ["ada", "bob"];
    const { runner } = pollRoom(present);
    runner.message("ada", LUNCH);
    expect(refusal(runner.message("ada", LUNCH))).toMatchObject({ code: "poll-open", status: 409 });
    expect(refusal(runner.message("bob", { close: true }))).toEqual({
      code: "not-the-owner",
      message: "Only ada closes this poll while in the room.",
      status: 403,
    });
    present.splice(0, 1); // ada left
    expect(published(runner.message("bob", { close: true }))).toMatchObject({ closed: true, owner: "ada" });
    expect(refusal(runner.message("bob", { vote: 0 }))).toMatchObject({ code: "poll-not-open" });
    expect(refusal(runner.message("bob", { close: true }))).toMatchObject({ code: "poll-not-open" });
  });

  it("starts the next poll with a new round and nobody's vote in it", () => {
    const { runner, rows } = pollRoom();
    runner.message("ada", LUNCH);
    runner.message("bob", { vote: 0 });
    runner.message("ada", { close: true });
    const next = published(runner.message("bob", { open: { question: "Dinner?", options: ["yes", "no"] } }));
    expect(next).toMatchObject({ round: 2, owner: "bob", tallies: [0, 0], closed: false });
    expect(rows.keys("vote:")).toEqual([]);
    expect(published(runner.message("bob", { vote: 1 })).tallies).toEqual([0, 1]);
  });

  it("lets only the named voters and the owner join and vote in a poll for named voters", () => {
    const { runner } = pollRoom(["ada", "cy"]);
    runner.message("ada", { open: { question: "Q?", options: ["a", "b"], voters: ["bob"] } });
    expect(refusal(runner.message("cy", { vote: 0 }))).toEqual({
      code: "not-a-voter",
      message: "cy may not vote in this poll.",
      status: 403,
    });
    expect(runner.join("cy")).toEqual({
      refused: { status: 403, type: "not-a-voter", detail: "This poll is for bob only." },
    });
    expect(runner.join("bob")).toMatchObject({ reply: { poll: { voters: ["bob"] } } });
    expect(runner.join("ada")).toMatchObject({ reply: { poll: { owner: "ada" } } });
  });

  it("welcomes a member with the poll and its own vote", () => {
    const { runner } = pollRoom();
    expect(runner.join("bob")).toEqual({ publish: [], reply: { poll: null } });
    runner.message("ada", LUNCH);
    runner.message("bob", { vote: 2 });
    expect(runner.join("bob")).toEqual({
      publish: [],
      reply: { poll: expect.objectContaining({ tallies: [0, 0, 1] }), voted: 2 },
    });
    expect(runner.join("cy")).toEqual({ publish: [], reply: { poll: expect.objectContaining({ round: 1 }) } });
  });

  it("sends a chat line on as {text} only, trimmed, and refuses an empty or too long one", () => {
    const { runner } = pollRoom();
    expect(runner.message("ada", { text: "  hi  " })).toEqual({ broadcast: { data: { text: "hi" } }, publish: [] });
    expect(refusal(runner.message("ada", { text: " " }))).toMatchObject({ code: "bad-text" });
    expect(refusal(runner.message("ada", { text: "x".repeat(2_001) }))).toMatchObject({ code: "bad-text" });
    expect(refusal(runner.message("ada", { text: "hi", kind: "poll" }))).toMatchObject({ code: "not-a-poll-action" });
  });
});

describe("pollOf", () => {
  const state: PollState = {
    kind: "poll",
    round: 1,
    question: "Q?",
    options: ["a", "b"],
    tallies: [1, 0],
    owner: "ada",
    closed: false,
  };
  const message = (server: boolean, data: unknown): RoomMessage => ({
    type: "message",
    seq: 1,
    id: "m",
    from: server ? "server" : "mallory",
    server,
    data,
    ts: 0,
  });

  it("reads a poll only from what the service published", () => {
    expect(pollOf(message(true, state))).toEqual(state);
    expect(pollOf(message(false, state))).toBeUndefined();
    expect(pollOf(message(true, { text: "hi" }))).toBeUndefined();
    expect(pollOf(message(true, null))).toBeUndefined();
  });
});

describe("a kind's state in the room's SQLite", () => {
  it("keeps a hook's writes whole or not at all, and counts its bytes from the table", async () => {
    const stub = env.ROOM.getByName(`kinds-${crypto.randomUUID()}`);
    const answers = await runInDurableObject(stub, (_, state) => {
      const rows = kindRows(state.storage);
      const runner = new KindRunner(scripted, "room-x", rows, MAX, () => []);
      const kept = runner.message("ada", { write: 1, big: 10 });
      const thrown = runner.message("ada", { write: 2, big: 20, end: "throw" });
      const full = runner.message("bob", { write: 3, big: 5_000 });
      const table = state.storage.sql
        .exec<{ key: string; value: string }>("SELECT key, value FROM kind_state ORDER BY key")
        .toArray();
      const fresh = new KindRunner(scripted, "room-x", kindRows(state.storage), MAX, () => []);
      return { kept, thrown, full, table, bytes: [runner.bytes, fresh.bytes], prefixed: rows.keys("big:") };
    });
    expect(answers.kept).toMatchObject({ publish: [{ n: 1 }] });
    expect(answers.thrown).toMatchObject({ error: { code: "kind-failed" } });
    expect(answers.full).toMatchObject({ error: { code: "kind-state-full" } });
    expect(answers.table).toEqual([
      { key: "big:ada", value: JSON.stringify("x".repeat(10)) },
      { key: "n", value: "1" },
    ]);
    // "big:ada" + 12 bytes, "n" + "1".
    expect(answers.bytes).toEqual([21, 21]);
    expect(answers.prefixed).toEqual(["big:ada"]);
  });
});
