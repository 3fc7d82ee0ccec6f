/**
 * `client.tokens` and scoped tokens through the typed client, against the built worker over real HTTP: the root
 * client creates, lists, reads, rotates and revokes; a client with a scoped token works in its namespace (a counter,
 * a lock and its fence, a room of its own) and gets `EdgeloopError`s naming the scope or the name it lacks; the root
 * client reaches the namespace with `namespace`.
 */
import { describe, expect, it } from "vitest";
import { createClient, EdgeloopError } from "../../src/client/index.ts";
import { useWorker } from "./support/worker.ts";

const worker = useWorker({ FENCE_SECRET: "e2e-fence-secret", ROOM_TICKET_SECRET: "e2e-ticket-secret" });

const rootClient = (namespace?: string) => createClient({ baseUrl: worker.url, token: worker.token, namespace });

async function refusal(work: Promise<unknown>): Promise<EdgeloopError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof EdgeloopError)) throw new Error(`expected an EdgeloopError, got ${String(err)}`);
  return err;
}

describe("client.tokens", () => {
  it("creates a token whose client works in its namespace only, within its scopes and names", async () => {
    const namespace = `acme-${crypto.randomUUID()}`;
    const created = await rootClient().tokens.create({
      name: "orders service",
      scopes: ["counters:*", "locks:write"],
      names: { "*": ["orders-*"] },
      namespace,
    });
    expect(created).toMatchObject({ name: "orders service", state: "active", namespace, lastUsedAt: null });
    expect(created.token).toMatch(/^elk_/);
    const scoped = createClient({ baseUrl: worker.url, token: created.token });

    {
      await using lease = await scoped.lock("orders-lock").acquire({ ttlMs: 5_000 });
      expect(lease.fence).toMatchObject({ lock: "orders-lock", token: 1 });
      expect(await scoped.counter("orders-1").increment(2, { fence: lease })).toMatchObject({
        name: "orders-1",
        value: 2,
      });
    }
    expect((await rootClient(namespace).counter("orders-1").get()).value).toBe(2);
    expect((await rootClient().counter("orders-1").get()).value).toBe(0);

    const missing = await refusal(scoped.lock("orders-lock").status());
    expect(missing.status).toBe(403);
    expect(missing.type).toBe("urn:edgeloop:problem:scope-missing");
    expect(missing.problem).toMatchObject({ scope: "locks:read" });
    const refusedName = await refusal(scoped.counter("billing").increment(1));
    expect(refusedName.type).toBe("urn:edgeloop:problem:name-refused");
    expect(refusedName.problem).toMatchObject({ name: "billing", family: "counters" });
    const notRoot = await refusal(scoped.tokens.list());
    expect(notRoot.status).toBe(403);
  });

  it("lists, reads, rotates with a grace period and revokes", async () => {
    const root = rootClient();
    const created = await root.tokens.create({ name: "ci", scopes: ["jobs:*"] });
    const { token: _, ...shown } = created;
    expect(await root.tokens.get(created.id)).toEqual(shown);
    expect((await root.tokens.list()).map((t) => t.id)).toContain(created.id);

    const rotated = await root.tokens.rotate(created.id, { graceSeconds: 60 });
    expect(rotated.token).not.toBe(created.token);
    expect(rotated.previousValidUntil).toBeDefined();
    for (const token of [created.token, rotated.token]) {
      const client = createClient({ baseUrl: worker.url, token });
      expect((await refusal(client.jobs.get("0123456789abcdef0123456789abcdef"))).status).toBe(404);
    }

    const revoked = await root.tokens.revoke(created.id);
    expect(revoked.state).toBe("revoked");
    const gone = await refusal(createClient({ baseUrl: worker.url, token: rotated.token }).jobs.get("0".repeat(32)));
    expect(gone.status).toBe(401);
    expect(gone.message).toContain("revoked");
  });
});
