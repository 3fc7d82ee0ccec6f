import { describe, expect, it, vi } from "vitest";
import { jobProgressOf } from "../../src/jobs/protocol";
import { frameBytes, isReservedName, parseClientFrame, type RoomMessage } from "../../src/rooms/protocol";
import { Presence, RateWindow, RoomLog, Ticker } from "../../src/rooms/room-state";
import { ArrayHistory } from "../helpers/array-history";

describe("RoomLog", () => {
  it("numbers messages 1, 2, 3… and continues from what the store already holds", () => {
    const store = new ArrayHistory();
    const log = new RoomLog(store, 10);
    expect([1, 2, 3].map((i) => log.append({ from: "ada", server: false, data: i, id: `m${i}`, ts: i }).seq)).toEqual([
      1, 2, 3,
    ]);
    expect(store.messages[0]).toEqual({
      type: "message",
      seq: 1,
      id: "m1",
      from: "ada",
      server: false,
      data: 1,
      ts: 1,
    });
    const reopened = new RoomLog(store, 10);
    expect(reopened.lastSeq).toBe(3);
    expect(reopened.append({ from: "bob", server: false, data: 4, id: "m4", ts: 4 }).seq).toBe(4);
  });

  it("returns the kept history, or what came after since", () => {
    const log = new RoomLog(new ArrayHistory(), 3);
    for (let i = 1; i <= 5; i++) log.append({ from: "ada", server: false, data: i, id: `m${i}`, ts: i });
    expect(log.history().map((m) => m.seq)).toEqual([3, 4, 5]);
    expect(log.history(4).map((m) => m.seq)).toEqual([5]);
    expect(log.history(5)).toEqual([]);
  });

  it("keeps nothing when ROOM_HISTORY is 0 but still orders", () => {
    const log = new RoomLog(new ArrayHistory(), 0);
    log.append({ from: "ada", server: false, data: 1, id: "a", ts: 1 });
    expect(log.append({ from: "ada", server: false, data: 2, id: "b", ts: 2 }).seq).toBe(2);
    expect(log.history()).toEqual([]);
  });
});

describe("presence", () => {
  it("lists distinct users sorted, a user with two connections once", () => {
    const presence = new Presence();
    for (const user of ["bob", "ada", "bob"]) presence.add(user);
    expect(presence.members()).toEqual(["ada", "bob"]);
    expect(presence.count).toBe(2);
    expect(presence.connectionsOf("bob")).toBe(2);
  });

  it("starts with nothing to announce", () => {
    const presence = new Presence();
    expect([presence.pending, presence.mark, presence.count]).toEqual([false, 0, 0]);
    expect(presence.frameSince(0)).toBeUndefined();
  });

  it("announces a tick's joins and departures in one frame, sorted, with the count after them", () => {
    const left = new Presence();
    for (const user of ["cy", "ada", "bob"]) left.add(user);
    left.endTick();
    for (const user of ["cy", "ada", "bob"]) left.remove(user);
    expect(left.frameSince(0)).toEqual({ type: "presence", joined: [], left: ["ada", "bob", "cy"], count: 0 });
    const presence = new Presence();
    presence.add("ada");
    presence.add("dee");
    presence.endTick();
    presence.add("cy");
    presence.add("bob");
    presence.remove("dee");
    expect(presence.frameSince(0)).toEqual({ type: "presence", joined: ["bob", "cy"], left: ["dee"], count: 3 });
    presence.endTick();
    expect(presence.pending).toBe(false);
    expect(presence.frameSince(0)).toBeUndefined();
  });

  it("announces a join only for a user not yet present, and a departure only with the user's last connection", () => {
    const presence = new Presence();
    presence.add("ada");
    presence.add("bob");
    presence.endTick();
    presence.add("bob");
    expect(presence.frameSince(0)).toBeUndefined();
    presence.remove("bob");
    expect(presence.frameSince(0)).toBeUndefined();
    presence.remove("bob");
    expect(presence.frameSince(0)).toEqual({ type: "presence", joined: [], left: ["bob"], count: 1 });
  });

  it("announces nothing for a user who joins and leaves within one tick, or leaves and comes back", () => {
    const presence = new Presence();
    presence.add("ada");
    presence.endTick();
    presence.add("eve");
    presence.remove("eve");
    presence.remove("ada");
    presence.add("ada");
    expect(presence.pending).toBe(true);
    expect(presence.frameSince(0)).toBeUndefined();
    expect(presence.members()).toEqual(["ada"]);
  });

  it("gives a member who joined during the tick only the changes after its welcome", () => {
    const presence = new Presence();
    presence.add("ada");
    presence.add("dee");
    presence.endTick();
    presence.remove("dee");
    presence.add("bob");
    // bob's welcome lists ada and bob: dee's departure and bob's own join are in it.
    const bobsMark = presence.mark;
    presence.add("dee");
    presence.add("cy");
    expect(presence.frameSince(0)).toEqual({ type: "presence", joined: ["bob", "cy"], left: [], count: 4 });
    expect(presence.frameSince(bobsMark)).toEqual({ type: "presence", joined: ["cy", "dee"], left: [], count: 4 });
    expect(presence.frameSince(presence.mark)).toBeUndefined();
  });

  it("announces the departure of a connection it did not hold only when the user has no other", () => {
    const presence = new Presence();
    presence.add("ada");
    presence.endTick();
    presence.removeUnknown("ada");
    expect(presence.frameSince(0)).toBeUndefined();
    presence.removeUnknown("bob");
    expect(presence.frameSince(0)).toEqual({ type: "presence", joined: [], left: ["bob"], count: 1 });
  });
});

describe("Ticker", () => {
  /** A ticker of 50 ms over a pending flag the test sets, counting announcements (each clears the flag). */
  function ticker() {
    const state = { pending: false, announced: 0 };
    const t = new Ticker(
      50,
      () => state.pending,
      () => {
        state.announced++;
        state.pending = false;
      },
    );
    return { t, state };
  }

  it("announces at once after a quiet tick, then at most once per tick, together", async () => {
    vi.useFakeTimers({ now: 1_000 });
    try {
      const { t, state } = ticker();
      state.pending = true;
      t.soon();
      expect(state.announced).toBe(1);
      // Within the tick that announcement started: it waits for the tick's end (50 ms after it), once.
      await vi.advanceTimersByTimeAsync(20);
      state.pending = true;
      t.soon();
      t.soon();
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(29);
      expect(state.announced).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(state.announced).toBe(2);
      // A change exactly a tick after the last announcement goes out at once.
      await vi.advanceTimersByTimeAsync(50);
      state.pending = true;
      t.soon();
      expect(state.announced).toBe(3);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("announces nothing when nothing changed, and now() sends what waits at once, cancelling the tick", async () => {
    vi.useFakeTimers({ now: 1_000 });
    try {
      const { t, state } = ticker();
      t.soon();
      t.now();
      expect(state.announced).toBe(0);
      state.pending = true;
      t.soon();
      state.pending = true;
      t.soon();
      expect([state.announced, vi.getTimerCount()]).toEqual([1, 1]);
      t.now();
      expect([state.announced, vi.getTimerCount()]).toEqual([2, 0]);
      await vi.advanceTimersByTimeAsync(100);
      expect(state.announced).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("RateWindow", () => {
  it("lets the limit through, warns once, then says close, and starts over in the next window", () => {
    const rate = new RateWindow(3, 1_000);
    expect([0, 10, 20, 30, 40, 50].map((t) => rate.hit(t))).toEqual(["ok", "ok", "ok", "limited", "close", "close"]);
    expect([1_000, 1_001, 1_002, 1_003].map((t) => rate.hit(t))).toEqual(["ok", "ok", "ok", "limited"]);
  });
});

describe("parseClientFrame", () => {
  it("accepts a message with data and an optional id, and a ping", () => {
    expect(parseClientFrame('{"type":"message","data":{"a":1},"id":"x"}', 1_024)).toEqual({
      ok: true,
      frame: { type: "message", data: { a: 1 }, id: "x" },
    });
    expect(parseClientFrame('{"type":"message","data":null}', 1_024)).toEqual({
      ok: true,
      frame: { type: "message", data: null },
    });
    expect(parseClientFrame('{"type":"ping"}', 1_024)).toEqual({ ok: true, frame: { type: "ping" } });
  });

  it("measures size in UTF-8 bytes and asks for close 1009 above the limit", () => {
    const frame = JSON.stringify({ type: "message", data: "é".repeat(600) });
    expect(frame.length).toBeLessThan(1_024);
    expect(parseClientFrame(frame, 1_024)).toMatchObject({ ok: false, close: { code: 1009 } });
    expect(parseClientFrame(frame, 2_048)).toMatchObject({ ok: true });
    // Short frames of multi-byte characters are measured exactly too.
    expect(frameBytes("éé")).toBe(4);
    expect(parseClientFrame(JSON.stringify({ type: "message", data: "€".repeat(20) }), 64)).toMatchObject({
      ok: false,
      close: { code: 1009 },
    });
  });

  it("refuses binary with close 1003 and malformed frames with a bad-message error", () => {
    expect(parseClientFrame(new ArrayBuffer(4), 1_024)).toMatchObject({ ok: false, close: { code: 1003 } });
    for (const raw of ["nope", "[1]", '{"type":"x"}', '{"type":"message"}', '{"type":"message","data":1,"id":""}']) {
      expect(parseClientFrame(raw, 1_024), raw).toMatchObject({ ok: false, error: { code: "bad-message" } });
    }
  });
});

describe("who sent it: jobProgressOf and reserved names", () => {
  const progress = { kind: "job-progress", id: "j1", state: "running", total: 4, done: 1, failed: 0 };
  const message = (over: Partial<RoomMessage>): RoomMessage => ({
    type: "message",
    seq: 1,
    id: "m1",
    from: "jobs",
    server: true,
    data: progress,
    ts: 1,
    ...over,
  });

  it("reads progress only from a server message sent as jobs", () => {
    expect(jobProgressOf(message({}))).toEqual(progress);
    expect(jobProgressOf(message({ server: false }))).toBeUndefined();
    expect(jobProgressOf(message({ from: "ci" }))).toBeUndefined();
    expect(jobProgressOf(message({ server: "true" as unknown as boolean }))).toBeUndefined();
  });

  it("refuses progress that is not well-formed", () => {
    for (const data of [
      null,
      "job-progress",
      { ...progress, kind: "other" },
      { ...progress, state: "exploded" },
      { ...progress, done: -1 },
      { ...progress, total: "4" },
      { ...progress, id: 7 },
    ]) {
      expect(jobProgressOf(message({ data })), JSON.stringify(data)).toBeUndefined();
    }
  });

  it("reserves the service's sender names in any case, width or padding", () => {
    for (const name of ["server", "jobs", "JOBS", " Server ", "\uff4a\uff4f\uff42\uff53"]) {
      expect(isReservedName(name), name).toBe(true);
    }
    for (const name of ["ada", "servers", "job", "jobs-bot"]) expect(isReservedName(name), name).toBe(false);
  });
});
