/**
 * User names that look like another: a ticket's user and a published message's `from` are refused when they hold an
 * invisible character (zero-width, bidi controls, soft hyphen, fillers, variation selectors outside an emoji), a
 * compatibility variant (fullwidth, mathematical letters: send the NFKC form), or letters of scripts that do not go
 * together (Cyrillic ѕ in a Latin word); one script, or Latin with Han and kana or Hangul, and emoji are fine. Room
 * names are ASCII only (`Name`), so none of these can name a room.
 */
import { describe, expect, it } from "vitest";
import { nameRefusal } from "../../src/rooms/protocol";
import { call } from "../helpers/api";

const room = () => `names-${crypto.randomUUID()}`;

const REFUSED: [string, string][] = [
  ["a zero-width space", "se\u200brver"],
  ["a zero-width joiner between letters", "ad\u200da"],
  ["a right-to-left override", "ada\u202egnp.exe"],
  ["a soft hyphen", "pay\u00adpal"],
  ["a Hangul filler", "ada\u3164"],
  ["a variation selector after a letter", "se\ufe0frver"],
  ["a no-break space", "ada\u00a0lovelace"],
  ["a Cyrillic ѕ in a Latin word", "\u0455erver"],
  ["a Greek ο in a Latin word", "r\u03bfot"],
  ["Cyrillic and Latin halves", "adа"],
  ["fullwidth letters", "\uff41\uff44\uff41"],
  ["mathematical bold letters", "\u{1d41a}\u{1d41d}\u{1d41a}"],
];

const ACCEPTED = [
  "ada",
  "Ada Lovelace",
  "Zoë",
  "Zoe\u0308",
  "José María",
  "Дмитрий",
  "Ελένη",
  "山田太郎",
  "山田たろう",
  "キム",
  "Kim 민준",
  "ada_42-b.c",
  "👩\u200d💻 ada",
  "❤\ufe0f ada",
  "ada 🏳\ufe0f\u200d🌈",
];

describe("user names", () => {
  it.each(REFUSED)("refuses a ticket for a name with %s", async (_why, user) => {
    const res = await call("POST", `/v1/rooms/${room()}/tickets`, { user });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ type: "urn:edgeloop:problem:invalid-request" });
    expect(JSON.stringify(res.body.errors)).toContain("user");
  });

  it.each(ACCEPTED)("issues a ticket for %s", async (user) => {
    const res = await call("POST", `/v1/rooms/${room()}/tickets`, { user });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ user });
  });

  it("refuses such a name as a published message's sender, and publishes nothing", async () => {
    const name = room();
    for (const [, from] of REFUSED) {
      const res = await call("POST", `/v1/rooms/${name}/messages`, { data: "hi", from });
      expect(res.status, from).toBe(400);
    }
    expect((await call("GET", `/v1/rooms/${name}`)).body).toMatchObject({ lastSeq: 0 });
  });

  it("says why, for the client and the demo page to show", () => {
    expect(nameRefusal("se\u200brver")).toContain("invisible");
    expect(nameRefusal("\u0455erver")).toContain("scripts");
    expect(nameRefusal("\uff41\uff44\uff41")).toContain("NFKC");
    expect(nameRefusal("Zoë")).toBeUndefined();
  });
});

describe("room names", () => {
  it("are ASCII only: an invisible or look-alike character is refused before any object is reached", async () => {
    for (const name of ["se\u200brver", "\u0455erver", "\uff41\uff44\uff41"]) {
      const res = await call("POST", `/v1/rooms/${encodeURIComponent(name)}/tickets`, { user: "ada" });
      expect(res.status, name).toBe(400);
    }
  });
});
