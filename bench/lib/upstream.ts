/**
 * The loopback upstream benchmarks call: a plain Node http server whose behaviour each request chooses with
 * query parameters, so one server serves every scenario.
 *
 *   ?latency=50   wait 50 ms before answering      ?jitter=10  plus 0-10 ms at random
 *   ?status=503   answer with this status          ?hang=1     never answer (until the client gives up)
 *   ?bytes=1024   body of this many bytes          (default: a small JSON document)
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Upstream {
  url: string;
  port: number;
  /** Requests received since start (or the last reset). */
  count(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    received++;
    const q = new URL(req.url ?? "/", "http://x").searchParams;
    if (q.get("hang")) {
      req.on("close", () => res.destroy());
      return;
    }
    const latency = Number(q.get("latency") ?? 0) + Math.random() * Number(q.get("jitter") ?? 0);
    const status = Number(q.get("status") ?? 200);
    const bytes = q.get("bytes");
    setTimeout(() => {
      if (bytes) {
        res.writeHead(status, { "content-type": "application/octet-stream" });
        res.end(Buffer.alloc(Number(bytes), 97));
      } else {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: status < 400, path: req.url }));
      }
    }, latency);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    count: () => received,
    reset: () => {
      received = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
