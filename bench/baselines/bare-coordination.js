// The platform's limit for counters and lock hand-off (bench/coordination.bench.ts): a Worker that makes one RPC to a
// bare SQLite-backed Durable Object per request, and nothing else: no auth, no validation, no rate limit, no leases,
// no fencing proofs.
//   GET  /healthz                                  {"status":"ok"}
//   POST /counters/:name/increment {by}            one SQLite upsert          → {name, value}
//   POST /locks/:name/acquire {owner, waitMs}      grant now or wait in line  → {name, token, grantedAt} | 409
//   POST /locks/:name/release {token}              hand over to the oldest waiter (one SQLite write) → {released}
//   GET  /locks/:name                              {waiters}
import { DurableObject } from "cloudflare:workers";

export class BareCounter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)");
  }

  increment(by) {
    return this.ctx.storage.sql
      .exec(
        "INSERT INTO counter (id, value) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET value = value + excluded.value RETURNING value",
        by,
      )
      .one().value;
  }
}

export class BareLock extends DurableObject {
  holder = null;
  waiters = [];

  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY, owner TEXT, token INTEGER NOT NULL)",
    );
    this.token = ctx.storage.sql.exec("SELECT token FROM lock WHERE id = 1").toArray()[0]?.token ?? 0;
  }

  acquire(owner, waitMs) {
    if (this.holder === null) return this.grant(owner);
    if (waitMs <= 0) return { ok: false };
    return new Promise((resolve) => {
      const waiter = { owner, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at < 0) return;
        this.waiters.splice(at, 1);
        resolve({ ok: false });
      }, waitMs);
    });
  }

  status() {
    return { waiters: this.waiters.length };
  }

  release(token) {
    if (this.holder !== token) return { released: false };
    this.holder = null;
    const next = this.waiters.shift();
    if (next) next.resolve(this.grant(next.owner));
    else this.ctx.storage.sql.exec("UPDATE lock SET owner = NULL WHERE id = 1");
    return { released: true };
  }

  grant(owner) {
    this.token++;
    this.holder = this.token;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO lock (id, owner, token) VALUES (1, ?, ?)", owner, this.token);
    return { ok: true, token: this.token, grantedAt: Date.now() };
  }
}

const ROUTE = /^\/(counters|locks)\/([^/]+)\/(increment|acquire|release)$/;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return Response.json({ status: "ok" });
    const status = /^\/locks\/([^/]+)$/.exec(url.pathname);
    if (status) return Response.json(await env.LOCK.getByName(status[1]).status());
    const match = ROUTE.exec(url.pathname);
    if (!match || request.method !== "POST") return new Response("not found", { status: 404 });
    const [, family, name, action] = match;
    const body = await request.json();
    if (family === "counters") {
      return Response.json({ name, value: await env.COUNTER.getByName(name).increment(body.by ?? 1) });
    }
    const lock = env.LOCK.getByName(name);
    if (action === "release") return Response.json({ name, ...(await lock.release(body.token)) });
    const grant = await lock.acquire(body.owner, body.waitMs ?? 0);
    if (!grant.ok) return Response.json({ name }, { status: 409 });
    return Response.json({ name, token: grant.token, grantedAt: grant.grantedAt });
  },
};
