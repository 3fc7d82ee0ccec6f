import { describe, expect, it } from "vitest";
import { bodyHash, canonicalJson, decodeCursor, encodeCursor, jobIdFor } from "../../src/jobs/ids";
import { signWebhook, webhookHeaders } from "../../src/jobs/webhook-signature";
import { verifyStandardWebhook } from "./verify-webhook";

describe("job ids", () => {
  it("map one scope and key to one id, and other scopes or keys to others", async () => {
    const a = await jobIdFor("scope-1", "order-42");
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(await jobIdFor("scope-1", "order-42")).toBe(a);
    expect(await jobIdFor("scope-1", "order-43")).not.toBe(a);
    expect(await jobIdFor("scope-2", "order-42")).not.toBe(a);
  });

  it("fingerprint bodies independently of key order", async () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } })).toBe(
      '{"a":{"c":[3,{"e":2,"f":1}],"d":2},"b":1}',
    );
    expect(await bodyHash({ a: 1, b: 2 })).toBe(await bodyHash({ b: 2, a: 1 }));
    expect(await bodyHash({ a: 1 })).not.toBe(await bodyHash({ a: 2 }));
  });
});

describe("result cursors", () => {
  it("round-trip and refuse anything not made by encodeCursor", () => {
    for (const n of [0, 49, 9_999]) expect(decodeCursor(encodeCursor(n))).toBe(n);
    expect(encodeCursor(5)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor("nope!")).toBeNull();
    expect(decodeCursor(btoa("r1:-1"))).toBeNull();
    expect(decodeCursor("")).toBeNull();
  });
});

describe("Standard Webhooks signatures", () => {
  it("match the specification's published example", async () => {
    const sig = await signWebhook(
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      "msg_p5jXN8AQM9LWM0D4loKWxJek",
      1614265330,
      '{"test": 2432232314}',
    );
    expect(sig).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("verify with an independent verifier, and fail for another body, timestamp or secret", async () => {
    const secret = "whsec_ZWRnZWxvb3AtdGVzdC13ZWJob29rLXNlY3JldA==";
    const body = JSON.stringify({ event: "order.paid", id: 42 });
    const headers = await webhookHeaders(secret, "msg_1", 1_700_000_000, body);
    expect(await verifyStandardWebhook(secret, headers, body, 1_700_000_010)).toBe(true);
    expect(await verifyStandardWebhook(secret, headers, `${body} `, 1_700_000_010)).toBe(false);
    expect(await verifyStandardWebhook(secret, headers, body, 1_700_001_000)).toBe(false);
    expect(await verifyStandardWebhook("whsec_b3RoZXI=", headers, body, 1_700_000_010)).toBe(false);
  });
});
