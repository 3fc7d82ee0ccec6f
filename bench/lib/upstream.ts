/**
 * The loopback upstream benchmarks and the workerd integration tests call: a plain Node http server whose
 * behaviour each request chooses with query parameters, so one server serves every scenario.
 *
 *   ?latency=50   wait 50 ms before answering      ?jitter=10     plus 0-10 ms at random
 *   ?status=503   answer with this status          ?hang=1        never answer (until the client gives up)
 *   ?bytes=1024   body of this many bytes          (default: a small JSON document)
 *   ?length=1     send the default JSON document with a content-length (otherwise chunked, as every answer here)
 *   ?key=abc      count this request under "abc": GET /__stats?key=abc answers
 *                 { hits, inFlight, maxInFlight, aborted, completed, connections, closed, starts } (aborted: the
 *                 client hung up first; connections: requests that came on a new TCP connection; closed: connections
 *                 closed since, whose last request was of this key; starts: when each request arrived, Date.now())
 *   ?latencyFirst=500        the first request of the key waits this long instead of `latency`
 *   ?failTimes=2&failStatus=503&retryAfter=1   the first 2 requests of the key get 503 (with Retry-After: 1)
 *   ?redirect=<url>&code=302 answer with a redirect to <url>
 *   ?redirects=6             redirect to itself with redirects=5, …, until 0
 *   ?echo=1                  answer JSON { method, url, headers, body } of the request received
 *   ?type=text/plain&body=hi answer this body with this content type
 *   ?drop=1                  destroy the connection without answering (a network error)
 *   ?gate=<name>             hold the answer until the gate <name> opens, then answer as the other parameters say:
 *                            POST /__gates/<name>/open opens it for good (held answers go out in arrival order,
 *                            later requests pass at once) and answers { freed, open, waiting, released };
 *                            GET /__gates/<name> answers { open, waiting, released };
 *                            GET /__gates/<name>?waiting=2&timeoutMs=5000 answers once 2 requests wait there (or
 *                            at the timeout, with the counters as they are). Tests order events with gates, not sleeps.
 *
 * GET /pages serves a paginated collection: `total` pages (3) of `per` items (2), `{ id }` numbered from 1, in the
 * `style` asked, for POST /v1/pages. Every other parameter above (key, latency, gate…) is kept in the next links and
 * applies to every page.
 *   ?style=page              `page=N` (default 1); `{ page, data }`, with `data: []` past the last page
 *   ?style=link              `page=N`; `{ page, data }` and two Link headers: rel="first" (absolute) and "prev"
 *                            (path-absolute, with a quoted title holding a comma), then rel="next" as a relative
 *                            reference (`?…`), rel="next last" when the next page is the last one
 *   ?style=cursor            `cursor=cN` (none: page 1); `{ page, data, meta: { next_cursor }, links: { next } }`,
 *                            the next page's cursor and relative URL, null on the last page
 *   &loopTo=K                the last page's next is page K again (a loop) instead of none
 *   &nextUrl=<url>           page 1's next is this URL (link and cursor styles)
 *   &failPage=N              the first request for page N answers `failStatus` (503)
 *   &gateFrom=N              `gate` holds only pages N and later
 *   &gate=g-{page}           each page waits at its own gate: `{page}` in the gate's name is the page number
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface KeyStats {
  hits: number;
  inFlight: number;
  maxInFlight: number;
  aborted: number;
  completed: number;
  connections: number;
  closed: number;
  /** When each request arrived (Date.now(), in arrival order): rate limits are checked against these. */
  starts: number[];
}

export interface GateStats {
  /** Opened: requests pass without waiting. */
  open: boolean;
  /** Requests held at the gate right now. */
  waiting: number;
  /** Requests that passed the gate (held then released, or arriving once it was open). */
  released: number;
}

export interface Upstream {
  url: string;
  port: number;
  /** Requests received since start (or the last reset). */
  count(): number;
  /** TCP connections accepted since start (or the last reset). */
  connections(): number;
  /** The counters of one key. */
  stats(key: string): KeyStats;
  /** The counters of one gate (see `?gate=`). */
  gate(name: string): GateStats;
  /** Open a gate for good; returns how many held requests it released. */
  openGate(name: string): number;
  reset(): void;
  close(): Promise<void>;
}

interface Gate extends GateStats {
  /** Held requests (release callbacks) in arrival order. */
  held: Set<() => void>;
  /** Callers waiting for `waiting` to reach a count. */
  watchers: Set<() => void>;
}

/** Named gates: each holds requests until the test opens it. */
function createGates() {
  const gates = new Map<string, Gate>();
  const gateOf = (name: string): Gate => {
    let g = gates.get(name);
    if (!g) {
      g = { open: false, waiting: 0, released: 0, held: new Set(), watchers: new Set() };
      gates.set(name, g);
    }
    return g;
  };
  const stats = (name: string): GateStats => {
    const { open, waiting, released } = gateOf(name);
    return { open, waiting, released };
  };
  return {
    stats,
    clear: () => gates.clear(),
    open(name: string): number {
      const g = gateOf(name);
      g.open = true;
      const held = [...g.held];
      g.held.clear();
      for (const release of held) release();
      return held.length;
    },
    /** Resolves true when the gate lets the request through, false if the client hung up while it waited. */
    pass(name: string, res: ServerResponse): Promise<boolean> {
      const g = gateOf(name);
      if (g.open) {
        g.released++;
        return Promise.resolve(true);
      }
      return new Promise((resolve) => {
        const release = () => {
          g.waiting--;
          g.released++;
          res.off("close", hungUp);
          resolve(true);
        };
        const hungUp = () => {
          if (!g.held.delete(release)) return;
          g.waiting--;
          resolve(false);
        };
        g.held.add(release);
        g.waiting++;
        res.on("close", hungUp);
        for (const notify of [...g.watchers]) notify();
      });
    },
    /** The gate's counters once `count` requests wait at it, or after `timeoutMs` as they are then. */
    whenWaiting(name: string, count: number, timeoutMs: number): Promise<GateStats> {
      const g = gateOf(name);
      return new Promise((resolve) => {
        const check = () => {
          if (g.waiting < count) return false;
          done();
          return true;
        };
        const done = () => {
          clearTimeout(timer);
          g.watchers.delete(check);
          resolve(stats(name));
        };
        const timer = setTimeout(done, timeoutMs);
        if (!check()) g.watchers.add(check);
      });
    },
  };
}

type Gates = ReturnType<typeof createGates>;

export async function startUpstream(): Promise<Upstream> {
  let received = 0;
  let connected = 0;
  // Connections that have not carried a request yet, and the key of the last request each one carried.
  const fresh = new WeakSet<Socket>();
  const lastKey = new WeakMap<Socket, KeyStats>();
  const keys = new Map<string, KeyStats>();
  const statsOf = (key: string): KeyStats => {
    let s = keys.get(key);
    if (!s) {
      s = { hits: 0, inFlight: 0, maxInFlight: 0, aborted: 0, completed: 0, connections: 0, closed: 0, starts: [] };
      keys.set(key, s);
    }
    return s;
  };

  const gates = createGates();
  const pageHits = new Map<string, number>();

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const q = url.searchParams;
    const isNew = fresh.delete(req.socket);
    if (url.pathname === "/__stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(statsOf(q.get("key") ?? "")));
      return;
    }
    if (url.pathname.startsWith("/__gates/")) {
      void controlGate(gates, req, res, url).catch(() => res.destroy());
      return;
    }
    received++;
    const key = q.get("key");
    const stats = key === null ? undefined : statsOf(key);
    const hit = stats ? ++stats.hits : 1;
    if (stats) {
      stats.starts.push(Date.now());
      if (isNew) stats.connections++;
      lastKey.set(req.socket, stats);
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    }
    res.on("close", () => {
      if (!stats) return;
      stats.inFlight--;
      if (res.writableFinished) stats.completed++;
      else stats.aborted++;
    });
    const page = url.pathname === "/pages" ? pageOf(q) : undefined;
    let pageHit = 0;
    if (page !== undefined) {
      const id = `${key}|${q.get("style")}|${page}`;
      pageHit = (pageHits.get(id) ?? 0) + 1;
      pageHits.set(id, pageHit);
    }
    void respond(req, res, q, hit, gates, { page, pageHit }).catch(() => res.destroy());
  });
  server.on("connection", (socket: Socket) => {
    connected++;
    fresh.add(socket);
    socket.on("close", () => {
      const last = lastKey.get(socket);
      if (last) last.closed++;
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    count: () => received,
    connections: () => connected,
    stats: (key) => {
      const s = statsOf(key);
      return { ...s, starts: [...s.starts] };
    },
    gate: (name) => gates.stats(name),
    openGate: (name) => gates.open(name),
    reset: () => {
      received = 0;
      connected = 0;
      keys.clear();
      gates.clear();
      pageHits.clear();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `POST /__gates/<name>/open` and `GET /__gates/<name>[?waiting=n&timeoutMs=ms]`. */
async function controlGate(gates: Gates, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const [name = "", action] = url.pathname.slice("/__gates/".length).split("/").map(decodeURIComponent);
  let body: unknown;
  if (req.method === "POST" && action === "open") body = { freed: gates.open(name), ...gates.stats(name) };
  else if (req.method === "GET" && action === undefined) {
    const waiting = Number(url.searchParams.get("waiting") ?? 0);
    const timeoutMs = Number(url.searchParams.get("timeoutMs") ?? 5_000);
    body = waiting > 0 ? await gates.whenWaiting(name, waiting, timeoutMs) : gates.stats(name);
  } else {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("unknown gate action");
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function respond(
  req: IncomingMessage,
  res: ServerResponse,
  q: URLSearchParams,
  hit: number,
  gates: Gates,
  paging: { page: number | undefined; pageHit: number },
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const gate =
    paging.page === undefined ? q.get("gate") : (q.get("gate")?.replace("{page}", String(paging.page)) ?? null);
  const gated = gate !== null && (paging.page ?? 0) >= Number(q.get("gateFrom") ?? 0);
  if (gated && !(await gates.pass(gate, res))) return;
  if (q.get("hang")) return;
  if (q.get("drop")) {
    req.socket.destroy();
    return;
  }
  const first = q.get("latencyFirst");
  const latency =
    (hit === 1 && first !== null ? Number(first) : Number(q.get("latency") ?? 0)) +
    Math.random() * Number(q.get("jitter") ?? 0);
  if (latency > 0) await new Promise((r) => setTimeout(r, latency));
  if (res.destroyed) return;

  const failTimes = Number(q.get("failTimes") ?? 0);
  if (hit <= failTimes) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const retryAfter = q.get("retryAfter");
    if (retryAfter !== null) headers["retry-after"] = retryAfter;
    res.writeHead(Number(q.get("failStatus") ?? 503), headers);
    res.end(JSON.stringify({ ok: false, hit }));
    return;
  }
  if (paging.page !== undefined) {
    if (paging.page === Number(q.get("failPage")) && paging.pageHit === 1) {
      res.writeHead(Number(q.get("failStatus") ?? 503), { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: false, page: paging.page }));
    } else servePage(req, res, q, paging.page);
    return;
  }
  const redirects = Number(q.get("redirects") ?? 0);
  if (redirects > 0) {
    const next = new URL(req.url ?? "/", "http://x");
    next.searchParams.set("redirects", String(redirects - 1));
    res.writeHead(302, { location: `${next.pathname}${next.search}` });
    res.end();
    return;
  }
  const redirect = q.get("redirect");
  if (redirect !== null) {
    res.writeHead(Number(q.get("code") ?? 302), { location: redirect });
    res.end();
    return;
  }
  const status = Number(q.get("status") ?? 200);
  if (q.get("echo")) {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }),
    );
    return;
  }
  const body = q.get("body");
  if (body !== null) {
    res.writeHead(status, { "content-type": q.get("type") ?? "text/plain" });
    res.end(body);
    return;
  }
  const bytes = q.get("bytes");
  if (bytes) {
    res.writeHead(status, { "content-type": q.get("type") ?? "application/octet-stream" });
    res.end(Buffer.alloc(Number(bytes), 97));
  } else {
    const json = JSON.stringify({ ok: status < 400, path: req.url, hit });
    const length = q.get("length") ? { "content-length": String(Buffer.byteLength(json)) } : {};
    res.writeHead(status, { "content-type": "application/json", ...length });
    res.end(json);
  }
}

/** The page a GET /pages request asks for: `page=N`, or `cursor=cN` (none: page 1). */
function pageOf(q: URLSearchParams): number {
  if (q.get("style") === "cursor") return Number((q.get("cursor") ?? "c1").slice(1));
  return Number(q.get("page") ?? 1);
}

/** One page of GET /pages in its style (see the header). */
function servePage(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, n: number): void {
  const style = q.get("style") ?? "page";
  const total = Number(q.get("total") ?? 3);
  const per = Number(q.get("per") ?? 2);
  const data = n >= 1 && n <= total ? Array.from({ length: per }, (_, i) => ({ id: (n - 1) * per + i + 1 })) : [];
  const self = new URL(req.url ?? "/", `http://${req.headers.host}`);
  const loopTo = q.get("loopTo");
  const after = n < total ? n + 1 : loopTo !== null ? Number(loopTo) : undefined;
  const nextUrl = n === 1 ? q.get("nextUrl") : null;
  const at = (k: number) => {
    const u = new URL(self);
    if (style === "cursor") u.searchParams.set("cursor", `c${k}`);
    else u.searchParams.set("page", String(k));
    return u;
  };
  if (style === "cursor") {
    const next = after === undefined ? null : `c${after}`;
    const link = nextUrl ?? (after === undefined ? null : at(after).search);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ page: n, data, meta: { next_cursor: next }, links: { next: link } }));
    return;
  }
  const headers: Record<string, string | string[]> = { "content-type": "application/json" };
  if (style === "link") {
    const first = [`<${at(1).href}>; rel="first"`];
    if (n > 1) first.push(`<${at(n - 1).pathname}${at(n - 1).search}>; rel="prev"; title="previous, page"`);
    const link = [first.join(", ")];
    if (nextUrl !== null) link.push(`<${nextUrl}>; rel="next"`);
    else if (after !== undefined) link.push(`<${at(after).search}>; rel="${after === total ? "next last" : "next"}"`);
    headers.link = link;
  }
  res.writeHead(200, headers);
  res.end(JSON.stringify({ page: n, data }));
}
