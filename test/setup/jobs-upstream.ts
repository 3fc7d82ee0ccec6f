/**
 * A loopback upstream for the jobs tests (Node), whose behaviour each URL chooses:
 *
 *   ?status=404        answer with this status
 *   ?failFirst=1       answer 503 to the first request for this exact URL, 200 afterwards
 *   ?latency=10        wait this many ms
 *   ?gate=NAME         hold the answer until the test opens the gate: `POST /__open?gate=NAME` (then and from then
 *                      on, requests with that gate are answered at once)
 *   ?holdFirst=NAME    hold only the first request for this exact URL at the gate NAME; later ones are answered at
 *                      once (a call cut off with its consumer, and the call of the redelivery)
 *
 * It counts requests per URL and records POSTed deliveries (headers and body), which a test reads back with
 * `GET /__hits?url=<path+query>` and `GET /__received?path=<path>`.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface JobsUpstream {
  url: string;
  /** Requests per path+query. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

export async function startJobsUpstream(): Promise<JobsUpstream> {
  const hits = new Map<string, number>();
  const received = new Map<string, { headers: Record<string, string>; body: string }[]>();
  /** Gates by name: a promise that resolves when the test opens it. */
  const gates = new Map<string, { opened: Promise<void>; open: () => void }>();
  const gate = (name: string) => {
    let g = gates.get(name);
    if (!g) {
      let open = () => {};
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      g = { opened, open };
      gates.set(name, g);
    }
    return g;
  };
  const server: Server = createServer(async (req, res) => {
    const target = req.url ?? "/";
    const url = new URL(target, "http://x");
    if (url.pathname === "/__hits") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ hits: hits.get(url.searchParams.get("url") ?? "") ?? 0 }));
      return;
    }
    if (url.pathname === "/__open") {
      gate(url.searchParams.get("gate") ?? "").open();
      res.writeHead(204);
      res.end();
      return;
    }
    if (url.pathname === "/__received") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(received.get(url.searchParams.get("path") ?? "") ?? []));
      return;
    }
    const n = (hits.get(target) ?? 0) + 1;
    hits.set(target, n);
    const body = await readBody(req);
    if (req.method === "POST") {
      const list = received.get(url.pathname) ?? [];
      list.push({ headers: req.headers as Record<string, string>, body });
      received.set(url.pathname, list);
    }
    const q = url.searchParams;
    const held = q.get("gate");
    if (held !== null) await gate(held).opened;
    const holdFirst = q.get("holdFirst");
    if (holdFirst !== null && n === 1) await gate(holdFirst).opened;
    let status = Number(q.get("status") ?? 200);
    if (q.get("failFirst") && n === 1) status = 503;
    setTimeout(
      () => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ path: target, n }));
      },
      Number(q.get("latency") ?? 0),
    );
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
