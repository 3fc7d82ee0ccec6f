/**
 * The loopback upstream benchmarks and the workerd integration tests call: a plain Node http server whose
 * behaviour each request chooses with query parameters, so one server serves every scenario.
 *
 *   ?latency=50   wait 50 ms before answering      ?jitter=10     plus 0-10 ms at random
 *   ?status=503   answer with this status          ?hang=1        never answer (until the client gives up)
 *   ?bytes=1024   body of this many bytes          (default: a small JSON document)
 *   ?length=1     send the default JSON document with a content-length (otherwise chunked, as every answer here)
 *   ?key=abc      count this request under "abc": GET /__stats?key=abc answers
 *                 { hits, inFlight, maxInFlight, aborted, completed, connections, closed } (aborted: the client
 *                 hung up first; connections: requests that came on a new TCP connection; closed: connections
 *                 closed since, whose last request was of this key)
 *   ?latencyFirst=500        the first request of the key waits this long instead of `latency`
 *   ?failTimes=2&failStatus=503&retryAfter=1   the first 2 requests of the key get 503 (with Retry-After: 1)
 *   ?redirect=<url>&code=302 answer with a redirect to <url>
 *   ?redirects=6             redirect to itself with redirects=5, …, until 0
 *   ?echo=1                  answer JSON { method, url, headers, body } of the request received
 *   ?type=text/plain&body=hi answer this body with this content type
 *   ?drop=1                  destroy the connection without answering (a network error)
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
  reset(): void;
  close(): Promise<void>;
}

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
      s = { hits: 0, inFlight: 0, maxInFlight: 0, aborted: 0, completed: 0, connections: 0, closed: 0 };
      keys.set(key, s);
    }
    return s;
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const q = url.searchParams;
    const isNew = fresh.delete(req.socket);
    if (url.pathname === "/__stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(statsOf(q.get("key") ?? "")));
      return;
    }
    received++;
    const key = q.get("key");
    const stats = key === null ? undefined : statsOf(key);
    const hit = stats ? ++stats.hits : 1;
    if (stats) {
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
    void respond(req, res, q, hit).catch(() => res.destroy());
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
    stats: (key) => ({ ...statsOf(key) }),
    reset: () => {
      received = 0;
      connected = 0;
      keys.clear();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function respond(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, hit: number): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
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
