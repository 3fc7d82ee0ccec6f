import { describe, expect, it } from "vitest";
import { parseLinkHeader } from "../../src/pages/link-header";
import { itemsAt, nextFromBody, nextLink, withParam } from "../../src/pages/next";

const PAGE = "https://api.example.com/v1/items?page=2&per_page=50";

describe("nextLink (RFC 8288)", () => {
  it("takes the rel=next target among several links, GitHub style", () => {
    const header =
      '<https://api.example.com/v1/items?page=3&per_page=50>; rel="next", ' +
      '<https://api.example.com/v1/items?page=9&per_page=50>; rel="last"';
    expect(nextLink(header, PAGE)).toEqual({ url: "https://api.example.com/v1/items?page=3&per_page=50" });
  });

  it("finds it in the second of several Link headers, which the runtime joins with a comma", () => {
    const headers = new Headers();
    headers.append("link", '<https://api.example.com/v1/items?page=1>; rel="first"');
    headers.append("link", '<https://api.example.com/v1/items?page=3>; rel="next"');
    expect(nextLink(headers.get("link"), PAGE)).toEqual({ url: "https://api.example.com/v1/items?page=3" });
  });

  it.each([
    ['rel="next last"', "a quoted list"],
    ['rel="last next"', "next second in the list"],
    ['rel="last\tnext"', "a list split by a tab"],
    ["rel=NEXT", "an unquoted token in capitals"],
  ])("matches %s (%s)", (rel) => {
    expect(nextLink(`</v1/items?page=3>; ${rel}`, PAGE)).toEqual({ url: "https://api.example.com/v1/items?page=3" });
  });

  it.each([
    ["?page=3", "https://api.example.com/v1/items?page=3"],
    ["/v2/items?cursor=x", "https://api.example.com/v2/items?cursor=x"],
    ["more?page=3", "https://api.example.com/v1/more?page=3"],
    ["../other", "https://api.example.com/other"],
    ["//cdn.example.com/items?page=3", "https://cdn.example.com/items?page=3"],
  ])("resolves the relative reference %s against the page's URL", (ref, url) => {
    expect(nextLink(`<${ref}>; rel="next"`, PAGE)).toEqual({ url });
  });

  it("is not misled by commas and semicolons inside a quoted parameter", () => {
    const header = '</v1/items?page=1>; rel="prev"; title="back, to; page 1", </v1/items?page=3>; rel="next"';
    expect(nextLink(header, PAGE)).toEqual({ url: "https://api.example.com/v1/items?page=3" });
  });

  it("reads a parameter without a value and the links after it", () => {
    const header = '</v1/items?page=9>; rel="last"; crossorigin, </v1/items?page=3>; rel="next"';
    expect(nextLink(header, PAGE)).toEqual({ url: "https://api.example.com/v1/items?page=3" });
  });

  it("takes whitespace around = and ;, empty list elements, and escapes in quoted values", () => {
    const header =
      ', </v1/items?page=1>; title="a \\"quoted\\", title"; rel = prev ,, </v1/items?page=3> ; rel = "next",';
    expect(nextLink(header, PAGE)).toEqual({ url: "https://api.example.com/v1/items?page=3" });
  });

  it("uses a next link read before something it cannot read", () => {
    expect(nextLink('</v1/items?page=3>; rel="next", garbage', PAGE)).toEqual({
      url: "https://api.example.com/v1/items?page=3",
    });
  });

  it("ignores a second rel parameter in one link, as RFC 8288 says", () => {
    expect(nextLink('</v1/items?page=1>; rel="prev"; rel="next"', PAGE)).toEqual({ end: true });
  });

  it("skips a next link whose anchor is another resource, and takes one anchored at the page", () => {
    const header =
      '</other?page=2>; rel="next"; anchor="https://api.example.com/other", ' +
      `</v1/items?page=3>; rel="next"; anchor="${PAGE}"`;
    expect(nextLink(header, PAGE)).toEqual({ url: "https://api.example.com/v1/items?page=3" });
  });

  it("ends when there is no next link, or no header", () => {
    expect(nextLink('</v1/items?page=1>; rel="prev", </v1/items?page=1>; rel="first"', PAGE)).toEqual({ end: true });
    expect(nextLink(null, PAGE)).toEqual({ end: true });
    expect(nextLink("  ", PAGE)).toEqual({ end: true });
  });

  it("says why a header it cannot read gives no next page", () => {
    expect(nextLink('rel="next" https://x.example/', PAGE)).toEqual({
      unreadable: 'its Link header cannot be read from rel="next" https://x.example/',
    });
    expect(nextLink('</v1/items?page=1>; rel="prev", </v1/items?page=3; rel="next"', PAGE)).toEqual({
      unreadable: 'its Link header cannot be read from </v1/items?page=3; rel="next"',
    });
    expect(nextLink('<http://[::1>; rel="next"', PAGE)).toEqual({
      unreadable: "its next link <http://[::1> is not a valid URL",
    });
    // Only the first 64 characters of what is left are quoted.
    const long = `not a link ${"x".repeat(100)}`;
    expect(nextLink(long, PAGE)).toEqual({ unreadable: `its Link header cannot be read from ${long.slice(0, 64)}` });
    expect(nextLink('</v1/items?page=1>; rel="prev", garbage, </v1/items?page=3>; rel="next"', PAGE)).toEqual({
      unreadable: 'its Link header cannot be read from garbage, </v1/items?page=3>; rel="next"',
    });
  });

  it("takes an empty target as the page itself", () => {
    expect(nextLink('<>; rel="next"', PAGE)).toEqual({ url: PAGE });
  });
});

describe("parseLinkHeader (RFC 8288 Appendix B)", () => {
  it("keeps each link's target as written and the first occurrence of each parameter, names lowercased", () => {
    const { links, rest } = parseLinkHeader('<?page=2>; REL="next"; rel=prev; Title=Two; hreflang=en, <//x/y>; a');
    expect(links.map((l) => [l.target, Object.fromEntries(l.params)])).toEqual([
      ["?page=2", { rel: "next", title: "Two", hreflang: "en" }],
      ["//x/y", { a: "" }],
    ]);
    expect(rest).toBe("");
  });

  it("stops at the first thing that is not a link and says what was left", () => {
    expect(parseLinkHeader('</a>; rel="next"; x="unterminated').links).toHaveLength(1);
    // An unquoted value runs to the next ; or , (spaces included): the stray link after "x" is what is left.
    expect(parseLinkHeader("</a>; rel=next </b>").links[0]?.params.get("rel")).toBe("next </b>");
    const { links, rest } = parseLinkHeader("</a>; rel=next; x </b>");
    expect(links.map((l) => Object.fromEntries(l.params))).toEqual([{ rel: "next", x: "" }]);
    expect(rest).toBe("</b>");
    expect(parseLinkHeader("")).toEqual({ links: [], rest: "" });
    // A target without its closing >: nothing read.
    expect(parseLinkHeader('</a; rel="next"')).toEqual({ links: [], rest: '</a; rel="next"' });
    // What is left is trimmed.
    expect(parseLinkHeader("</a>, garbage  ").rest).toBe("garbage");
  });

  it("takes any run of spaces and tabs around ; and =, and an empty target", () => {
    const { links } = parseLinkHeader('<>  \t;  \t rel \t = \t "next"  ;\t\ttitle=x');
    expect(links.map((l) => [l.target, Object.fromEntries(l.params)])).toEqual([["", { rel: "next", title: "x" }]]);
  });

  it("unescapes a quoted value, and ends one left open at the end of the header", () => {
    const quoted = parseLinkHeader('</a>; title="a \\"quoted\\", \\\\ title"; rel=next').links[0];
    expect(quoted?.params.get("title")).toBe('a "quoted", \\ title');
    expect(quoted?.params.get("rel")).toBe("next");
    expect(parseLinkHeader('</a>; x="open').links[0]?.params.get("x")).toBe("open");
    expect(parseLinkHeader('</a>; x="ends in a backslash\\').links[0]?.params.get("x")).toBe("ends in a backslash");
  });

  it("does not read a link out of what follows something that is not one", () => {
    expect(parseLinkHeader('</a>; rel="prev", garbage, </b>; rel="next"')).toEqual({
      links: [{ target: "/a", params: new Map([["rel", "prev"]]) }],
      rest: 'garbage, </b>; rel="next"',
    });
  });
});

describe("nextFromBody (a cursor or a next URL at a JSON pointer)", () => {
  const FIRST = "https://api.example.com/v1/items?limit=2&cursor=old";

  it("sends a string or number cursor in the parameter, replacing the one the first URL had", () => {
    expect(nextFromBody({ meta: { next: "c2" } }, "/meta/next", "cursor", FIRST, PAGE)).toEqual({
      url: "https://api.example.com/v1/items?limit=2&cursor=c2",
    });
    expect(nextFromBody({ next: 40 }, "/next", "offset", FIRST, PAGE)).toEqual({
      url: "https://api.example.com/v1/items?limit=2&cursor=old&offset=40",
    });
  });

  it("encodes a cursor and a parameter name that need it", () => {
    const url = nextFromBody({ next: "a b&c=d/é" }, "/next", "page[cursor]", FIRST, PAGE);
    expect(url).toEqual({
      url: "https://api.example.com/v1/items?limit=2&cursor=old&page%5Bcursor%5D=a+b%26c%3Dd%2F%C3%A9",
    });
    expect(new URL((url as { url: string }).url).searchParams.get("page[cursor]")).toBe("a b&c=d/é");
  });

  it('ends on null, an absent member, an empty string (Slack\'s "") or a path through a scalar', () => {
    for (const body of [{ meta: { next: null } }, { meta: {} }, {}, { meta: { next: "" } }, { meta: 5 }, []]) {
      expect(nextFromBody(body, "/meta/next", "cursor", FIRST, PAGE)).toEqual({ end: true });
    }
  });

  it("unescapes ~1 and ~0 in the pointer, and reads array indexes", () => {
    const body = { "a/b": { "m~n": ["x", "c9"] } };
    expect(nextFromBody(body, "/a~1b/m~0n/1", "cursor", FIRST, PAGE)).toEqual({
      url: "https://api.example.com/v1/items?limit=2&cursor=c9",
    });
  });

  it("never reads through the prototype chain", () => {
    for (const pointer of ["/constructor", "/__proto__", "/toString", "/hasOwnProperty"]) {
      expect(nextFromBody({}, pointer, "cursor", FIRST, PAGE)).toEqual({ end: true });
    }
  });

  it("refuses a cursor that is neither a string nor a number, and a body that is not JSON", () => {
    expect(nextFromBody({ next: true }, "/next", "cursor", FIRST, PAGE)).toEqual({
      unreadable: "the value at /next is a boolean, not a cursor (a string or number)",
    });
    expect(nextFromBody({ next: { id: 1 } }, "/next", "cursor", FIRST, PAGE)).toMatchObject({
      unreadable: expect.stringContaining("an object"),
    });
    expect(nextFromBody('{"next": "c2"', "/next", "cursor", FIRST, PAGE)).toEqual({
      unreadable: "its body is not a JSON object or array",
    });
    expect(nextFromBody(null, "/next", "cursor", FIRST, PAGE)).toEqual({
      unreadable: "its body is not a JSON object or array",
    });
    expect(nextFromBody({ next: [1] }, "/next", "cursor", FIRST, PAGE)).toEqual({
      unreadable: "the value at /next is an array, not a cursor (a string or number)",
    });
    expect(nextFromBody({ a: 1 }, "", "cursor", FIRST, PAGE)).toEqual({
      unreadable: 'the value at "" is an object, not a cursor (a string or number)',
    });
  });

  it("says so when the next URL in the body is not a URL", () => {
    expect(nextFromBody({ next: "http://[::1" }, "/next", undefined, FIRST, PAGE)).toEqual({
      unreadable: "the next URL http://[::1 at /next is not a valid URL",
    });
  });

  it("without a parameter, takes the value as the next URL, relative to the page", () => {
    expect(nextFromBody({ next: "?page=3" }, "/next", undefined, FIRST, PAGE)).toEqual({
      url: "https://api.example.com/v1/items?page=3",
    });
    expect(
      nextFromBody(
        { "@odata.nextLink": "https://graph.example.com/v1/x?$skiptoken=Z" },
        "/@odata.nextLink",
        undefined,
        FIRST,
        PAGE,
      ),
    ).toEqual({
      url: "https://graph.example.com/v1/x?$skiptoken=Z",
    });
  });
});

describe("itemsAt", () => {
  it("finds the array at the pointer, or the body itself for the empty pointer", () => {
    expect(itemsAt({ data: [1, 2] }, "/data")).toEqual({ items: [1, 2] });
    expect(itemsAt([{ id: 1 }], "")).toEqual({ items: [{ id: 1 }] });
    expect(itemsAt({ data: [] }, "/data")).toEqual({ items: [] });
  });

  it("says what is there when it is not an array", () => {
    expect(itemsAt({ data: { a: 1 } }, "/data")).toEqual({
      unreadable: "the value at /data is an object, not an array",
    });
    expect(itemsAt({}, "/data")).toEqual({ unreadable: "the value at /data is absent, not an array" });
    expect(itemsAt({ data: [] }, "")).toEqual({ unreadable: 'the value at "" is an object, not an array' });
    expect(itemsAt("text", "/data")).toEqual({ unreadable: "its body is not a JSON object or array" });
    expect(itemsAt(null, "/data")).toEqual({ unreadable: "its body is not a JSON object or array" });
    expect(itemsAt({ data: null }, "/data")).toEqual({ unreadable: "the value at /data is null, not an array" });
    expect(itemsAt({ data: 3 }, "/data")).toEqual({ unreadable: "the value at /data is a number, not an array" });
  });
});

describe("withParam", () => {
  it("sets a parameter, keeping the others and their order", () => {
    expect(withParam("https://a.example/x?page=1&per_page=50#frag", "page", "2")).toBe(
      "https://a.example/x?page=2&per_page=50#frag",
    );
    expect(withParam("https://a.example/x", "page", "1")).toBe("https://a.example/x?page=1");
  });
});
