/**
 * The job-type registry: one registration per request body (JOB_BODIES), the OpenAPI document's discriminated union
 * and the status's `type` generated from it, and jobs stored before the registry (a webhook's item in its spec, its
 * chunk "null") still run.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Job } from "../../src/jobs/job";
import { JOB_BODIES } from "../../src/jobs/schema";
import { JOB_TYPES } from "../../src/jobs/types/index";
import { allResults, deliver, newJobId, path, received, UP } from "./helpers";

const NAMES = JOB_BODIES.map((b) => b.shape.type.value);

interface Doc {
  paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: Schema }> } }>>;
  components: { schemas: Record<string, Schema> };
}
interface Schema {
  oneOf?: { $ref: string }[];
  discriminator?: { propertyName: string; mapping: Record<string, string> };
  properties?: Record<string, { enum?: string[] }>;
}

describe("the job-type registry", () => {
  it("has one registration per request body, each under its body's type", () => {
    expect(NAMES).toEqual(["fanout", "webhook", "hash", "service"]);
    expect(Object.keys(JOB_TYPES).sort()).toEqual([...NAMES].sort());
    for (const [name, type] of Object.entries(JOB_TYPES)) {
      expect(type.name).toBe(name);
      expect(typeof (type.handler ?? type.chunk)).toBe("function");
    }
  });

  it("gives POST /v1/jobs a union of the registered bodies, discriminated by type, and the status their names", async () => {
    const doc = await (await exports.default.fetch("http://edgeloop.test/openapi.json")).json<Doc>();
    const body = doc.paths["/v1/jobs"]?.post?.requestBody.content["application/json"]?.schema;
    const refs = ["FanoutJob", "WebhookJob", "HashJob", "ServiceJob"].map((n) => `#/components/schemas/${n}`);
    expect(body?.oneOf?.map((b) => b.$ref)).toEqual(refs);
    expect(body?.discriminator).toEqual({
      propertyName: "type",
      mapping: Object.fromEntries(NAMES.map((name, i) => [name, refs[i]])),
    });
    for (const schema of ["JobStatus", "JobSummary"]) {
      expect(doc.components.schemas[schema]?.properties?.type?.enum, schema).toEqual(NAMES);
    }
  });

  it("runs a webhook job stored before the registry: its item in its spec and its chunk null", async () => {
    const hook = path("legacy-hook");
    const spec = JSON.stringify({ url: UP + hook, payload: { order: 7 }, timeoutMs: 4_000 });
    const id = newJobId();
    const stub = env.JOB.getByName(id);
    await stub.create({
      id,
      type: "webhook",
      bodyHash: "h",
      requestsJson: `[${spec}]`,
      optionsJson: spec,
      chunkSize: 1,
    });
    // The rows as a job stored before job types reads: the spec is the whole webhook, the chunk holds no items.
    await runInDurableObject(stub, (_instance: Job, state) => {
      state.storage.sql.exec("UPDATE chunks SET requests = 'null'");
    });
    const result = await deliver("edgeloop-jobs", [{ id: "l1", body: { jobId: id, chunk: 0 } }]);
    expect(result.explicitAcks).toEqual(["l1"]);
    expect((await received(hook)).map((d) => [d.body, d.headers["webhook-id"]])).toEqual([
      [JSON.stringify({ order: 7 }), `msg_${id}`],
    ]);
    expect(await stub.status()).toMatchObject({ type: "webhook", state: "succeeded", done: 1, timeoutMs: 4_000 });
    expect(await allResults(stub)).toEqual([expect.objectContaining({ index: 0, ok: true, status: 200 })]);
  });
});
