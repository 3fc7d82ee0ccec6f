/**
 * The sequencer of a sharded room without shard objects: real SQLite (a fresh Room object's storage), a presence tick
 * the test controls (long enough never to end by itself), and shard ends that record every `deliver` batch. What
 * each shard is sent, in which order and in batches of what size.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Sequencer } from "../../src/rooms/room-sequencer";
import { Presence, RoomLog, Ticker } from "../../src/rooms/room-state";
import { type Batch, PIPE_MAX_ITEMS, type StreamItem } from "../../src/rooms/room-stream";
import { ArrayHistory } from "../helpers/array-history";

/** Far longer than a test runs: a presence tick ends only when the code under test says so. */
const TICK_MS = 60_000;

/** Run `fn` with a sequencer of `shards` shards on a fresh object's SQLite, recording what each shard is sent. */
function withSequencer(shards: number, fn: (s: Sequencer, sent: Batch[][]) => Promise<void>): Promise<void> {
  return runInDurableObject(env.ROOM.getByName(`seq-${crypto.randomUUID()}`), async (_, state) => {
    const sent: Batch[][] = Array.from({ length: shards }, () => []);
    const presence = new Presence();
    const log = new RoomLog(new ArrayHistory(), 100);
    let sequencer: Sequencer | undefined;
    const ticker = new Ticker(
      TICK_MS,
      () => presence.pending,
      () => sequencer?.announce(),
    );
    sequencer = new Sequencer(
      shards,
      state.storage.sql,
      log,
      presence,
      ticker,
      (i) => ({
        deliver: async (batch) => {
          sent[i]?.push(batch);
        },
      }),
      () => [],
    );
    try {
      await fn(sequencer, sent);
    } finally {
      // No tick left waiting in the object after the test.
      presence.endTick();
      ticker.now();
    }
  });
}

/** Let the pipes deliver what is queued (the shard ends answer at once: only microtasks stand between). */
async function delivered(): Promise<void> {
  for (let i = 0; i < 200; i++) await Promise.resolve();
}

/** A shard's stream as a list: `message <from>`, `presence +joined -left`, `welcome <conn>`. */
const describeItems = (batches: Batch[]) =>
  batches
    .flatMap((b) => b.items)
    .map((item: StreamItem) => {
      if ("seq" in item) return `message ${(JSON.parse(item.text) as { from: string }).from}`;
      if ("welcome" in item) return `welcome ${item.welcome}`;
      const frame = JSON.parse(item.presence ?? "null") as { joined: string[]; left: string[] } | null;
      return `presence ${frame ? [...frame.joined.map((u) => `+${u}`), ...frame.left.map((u) => `-${u}`)].join(" ") : "(personal only)"}`;
    });

describe("Sequencer", () => {
  it("sends a join waiting for its presence tick before a message the new member publishes in that tick", async () => {
    await withSequencer(2, async (sequencer, sent) => {
      // ada on shard 0: her join is announced at once (the first tick).
      expect(sequencer.apply(0, [{ op: "join", conn: "c-ada", user: "ada", shards: 2 }])).toEqual([{ ok: true }]);
      // bob on shard 1 within the same tick: his presence waits for the tick… and he sends at once.
      expect(sequencer.apply(1, [{ op: "join", conn: "c-bob", user: "bob", shards: 2 }])).toEqual([{ ok: true }]);
      const [answer] = sequencer.apply(1, [{ op: "message", user: "bob", id: "b1", data: "hi" }]);
      expect(answer).toEqual({ ok: true, seq: 1 });
      await delivered();
      expect(describeItems(sent[0] as Batch[])).toEqual([
        "presence +ada",
        "welcome c-ada",
        "presence +bob",
        "message bob",
      ]);
      // bob was welcomed with ada and himself: his own frame of the tick says nothing new.
      expect(describeItems(sent[1] as Batch[])).toEqual(["welcome c-bob", "presence +bob", "message bob"]);
    });
  });

  it(`never sends a shard more than PIPE_MAX_ITEMS (${PIPE_MAX_ITEMS}) items in one deliver call`, async () => {
    await withSequencer(2, async (sequencer, sent) => {
      sequencer.apply(0, [{ op: "join", conn: "c-ada", user: "ada", shards: 2 }]);
      await delivered();
      const before = (sent[0] as Batch[]).length;
      // 600 messages in one turn: they queue while nothing is in flight, and leave in calls of at most 256.
      for (let n = 1; n <= 600; n++) sequencer.publish({ from: "server", server: true, data: n, id: `m${n}` });
      await delivered();
      const batches = (sent[0] as Batch[]).slice(before);
      expect(batches.map((b) => b.items.length)).toEqual([PIPE_MAX_ITEMS, PIPE_MAX_ITEMS, 600 - 2 * PIPE_MAX_ITEMS]);
      const seqs = batches.flatMap((b) => b.items.map((i) => ("seq" in i ? i.seq : 0)));
      expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
      expect(batches.map((b) => b.after)).toEqual([0, PIPE_MAX_ITEMS, 2 * PIPE_MAX_ITEMS]);
    });
  });
});
