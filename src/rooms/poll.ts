/**
 * The poll room kind (rooms named `poll:…`, or `demo-poll:…` for the demo page): members vote, the room keeps the
 * tallies and publishes them (`server: true`) after every change, so no member can forge a count, vote twice or for
 * someone else. A member may chat (`{text}`, sent on as `{text}` only), open a poll when none is open, vote once per
 * poll, and its owner closes it (anyone may, once the owner has left the room). A poll with named voters is joined by
 * them and its owner only. What members send and get is in `protocol.ts` (`PollAction`, `PollState`, `PollWelcome`).
 * No platform imports.
 */
import { defineKind, type KindState, type MessageOutcome, type Refusal } from "./kind";
import type { PollState, PollWelcome } from "./protocol";

/** What a poll keeps in its room's SQLite: the poll, and each user's vote in it. */
export interface PollStore {
  poll: PollState;
  [vote: `vote:${string}`]: number;
}

/** The poll's format: longest question, option, chat line; most options and named voters. */
export const POLL_LIMITS = { question: 200, option: 80, options: 10, voters: 100, text: 2_000 } as const;

const refuse = (type: string, detail: string, status = 400): Refusal => ({ refuse: { type, detail, status } });

const NOT_AN_ACTION = refuse(
  "not-a-poll-action",
  "A poll room takes {text}, {open: {question, options, voters?}}, {vote: <option index>} or {close: true}.",
);

/** A string of 1 to `max` characters, not blank. */
const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.trim() !== "" && v.length <= max;

const isList = (v: unknown, min: number, max: number, each: number): v is string[] =>
  Array.isArray(v) && v.length >= min && v.length <= max && v.every((s) => isText(s, each));

/** Publish the poll as it now stands. */
const changed = (state: KindState<PollStore>, poll: PollState, reply?: unknown): MessageOutcome => {
  state.set("poll", poll);
  return reply === undefined ? { publish: [poll] } : { publish: [poll], reply };
};

function open(user: string, state: KindState<PollStore>, spec: unknown): Refusal | MessageOutcome {
  const previous = state.get("poll");
  if (previous && !previous.closed) return refuse("poll-open", "A poll is open: it is closed first.", 409);
  const { question, options, voters } = (spec ?? {}) as Record<string, unknown>;
  const { question: q, option, options: most, voters: named } = POLL_LIMITS;
  if (
    !isText(question, q) ||
    !isList(options, 2, most, option) ||
    (voters !== undefined && !isList(voters, 1, named, 64))
  ) {
    const detail = `A poll is {question: 1-${q} characters, options: 2-${most} of 1-${option}, voters?: 1-${named} names}.`;
    return refuse("bad-poll", detail);
  }
  for (const key of state.keys("vote:")) state.delete(key);
  return changed(state, {
    kind: "poll",
    round: (previous?.round ?? 0) + 1,
    question,
    options,
    tallies: options.map(() => 0),
    owner: user,
    ...(voters === undefined ? {} : { voters }),
    closed: false,
  });
}

function vote(user: string, state: KindState<PollStore>, choice: unknown): Refusal | MessageOutcome {
  const poll = state.get("poll");
  if (!poll || poll.closed) return refuse("poll-not-open", "There is no open poll to vote in.", 409);
  if (poll.voters && !poll.voters.includes(user))
    return refuse("not-a-voter", `${user} may not vote in this poll.`, 403);
  if (state.get(`vote:${user}`) !== undefined) {
    return refuse("already-voted", `${user} has voted in this poll already: one vote each.`, 409);
  }
  if (!Number.isInteger(choice) || (choice as number) < 0 || (choice as number) >= poll.options.length) {
    return refuse("bad-vote", `A vote is the index of an option, 0 to ${poll.options.length - 1}.`);
  }
  const index = choice as number;
  state.set(`vote:${user}`, index);
  return changed(state, { ...poll, tallies: poll.tallies.map((n, i) => (i === index ? n + 1 : n)) }, { voted: index });
}

/**
 * @example
 * const runner = new KindRunner(poll, "poll:lunch", memoryRows(), 65_536, () => ["ada"]);
 * runner.message("ada", { open: { question: "Lunch?", options: ["pizza", "soup"] } });
 * runner.message("ada", { vote: 0 }); // { publish: [{ kind: "poll", tallies: [1, 0], … }], reply: { voted: 0 } }
 */
export const poll = defineKind<PollStore>({
  name: "poll",

  onJoin({ user, state }) {
    const current = state.get("poll");
    if (current?.voters && current.owner !== user && !current.voters.includes(user)) {
      return refuse("not-a-voter", `This poll is for ${current.voters.join(", ")} only.`, 403);
    }
    const voted = state.get(`vote:${user}`);
    const welcome: PollWelcome = voted === undefined ? { poll: current ?? null } : { poll: current ?? null, voted };
    return { reply: welcome };
  },

  onMessage({ user, state, data, members }) {
    const action = (data ?? {}) as Record<string, unknown>;
    const keys = typeof data === "object" && !Array.isArray(data) ? Object.keys(action) : [];
    if (keys.length !== 1) return NOT_AN_ACTION;
    if (keys[0] === "text") {
      if (!isText(action.text, POLL_LIMITS.text))
        return refuse("bad-text", `A line is 1-${POLL_LIMITS.text} characters.`);
      return { broadcast: { text: action.text.trim() } };
    }
    if (keys[0] === "open") return open(user, state, action.open);
    if (keys[0] === "vote") return vote(user, state, action.vote);
    if (keys[0] !== "close" || action.close !== true) return NOT_AN_ACTION;
    const poll = state.get("poll");
    if (!poll || poll.closed) return refuse("poll-not-open", "There is no open poll to close.", 409);
    if (poll.owner !== user && members().includes(poll.owner)) {
      return refuse("not-the-owner", `Only ${poll.owner} closes this poll while in the room.`, 403);
    }
    return changed(state, { ...poll, closed: true });
  },
});
