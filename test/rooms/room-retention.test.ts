/**
 * Retention of rooms: a ticket request opens no object; a room (and each shard of a sharded room) that holds no
 * socket clears its storage ROOM_RETENTION_HOURS after it was last used, by its alarm, but never while a socket is
 * open or a ticket id or join rate it keeps is still needed. Time is not waited for: the stored times are moved into
 * the past, then the alarm is run with runDurableObjectAlarm. (A job's room going with the job: test/jobs/retention.)
 */
import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/rooms/room";
import type { RoomShard } from "../../src/rooms/room-shard";
import { shardName, shardOf } from "../../src/rooms/room-stream";
import { settings } from "../../src/settings";
import { call, until } from "../helpers/api";
import { closeAll, RoomSocket, ticketFor } from "../helpers/room-socket";
import { rowsOf } from "../helpers/storage";

const RETENTION_MS = settings(env).ROOM_RETENTION_HOURS * 3_600_000;
const newRoom = () => `kept-${crypto.randomUUID()}`;

type Stub = DurableObjectStub<Room> | DurableObjectStub<RoomShard>;

const alarmAt = (stub: Stub) =>
  runInDurableObject(stub as DurableObjectStub<Room>, (_: Room, state) => state.storage.getAlarm());

/** Rows the object stores, in the tables that hold any. */
const rows = async (stub: Stub) => Object.fromEntries(Object.entries(await rowsOf(stub)).filter(([, n]) => n > 0));

/** Move every time the object stored back by `ms`, as if that much time had passed. */
const rewind = (stub: Stub, ms: number) =>
  runInDurableObject(stub as DurableObjectStub<Room>, (_: Room, state) => {
    const sql = state.storage.sql;
    sql.exec("UPDATE idle SET since = since - ?", ms);
    sql.exec("UPDATE used_tickets SET exp = exp - ?", ms);
    sql.exec("UPDATE join_rates SET tat = tat - ?", ms);
  });

/** Move only the time the room was last used back by `ms`. */
const rewindIdle = (stub: Stub, ms: number) =>
  runInDurableObject(stub as DurableObjectStub<Room>, (_: Room, state) => {
    state.storage.sql.exec("UPDATE idle SET since = since - ?", ms);
  });

async function lastSeq(room: string): Promise<number> {
  const res = await call<{ lastSeq: number }>("GET", `/v1/rooms/${room}`);
  expect(res.status).toBe(200);
  return res.body.lastSeq;
}

describe("room retention", () => {
  it("opens no object for a ticket request", async () => {
    const room = newRoom();
    await ticketFor(room, "ada");
    const ids = (await listDurableObjectIds(env.ROOM)).map((id) => id.toString());
    expect(ids).not.toContain(env.ROOM.idFromName(room).toString());
  });

  it("clears an idle room with no socket ROOM_RETENTION_HOURS after its last message, and not before", async () => {
    const room = newRoom();
    const stub = env.ROOM.getByName(room);
    const before = Date.now();
    expect((await call("POST", `/v1/rooms/${room}/messages`, { data: "hello" })).status).toBe(201);
    const at = await alarmAt(stub);
    expect(at).toBeGreaterThanOrEqual(before + RETENTION_MS);
    expect(at).toBeLessThanOrEqual(Date.now() + RETENTION_MS);
    // Too early (an at-least-once alarm): nothing is deleted, and the alarm stays where it was.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await lastSeq(room)).toBe(1);
    expect(await alarmAt(stub)).toBe(at);

    await rewind(stub, RETENTION_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await rows(stub)).toEqual({});
    expect(await alarmAt(stub)).toBeNull();
    // Used again, it starts afresh, with a new retention.
    expect(await lastSeq(room)).toBe(0);
    expect((await call("POST", `/v1/rooms/${room}/messages`, { data: "again" })).body).toEqual({ seq: 1 });
    expect(await alarmAt(stub)).toBeGreaterThanOrEqual(Date.now());
  });

  it("keeps a room while a socket is open, and counts its retention from the last departure", async () => {
    const room = newRoom();
    const stub = env.ROOM.getByName(room);
    const ada = await RoomSocket.join(room, "ada");
    try {
      ada.send({ type: "message", data: "hi", id: "m1" });
      await ada.next((f) => f.type === "ack");
      await rewindIdle(stub, RETENTION_MS);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await lastSeq(room)).toBe(1);
      expect(await alarmAt(stub)).toBeGreaterThan(Date.now());
    } finally {
      closeAll(ada);
    }
    await until(async () => (await call<{ connections: number }>("GET", `/v1/rooms/${room}`)).body.connections === 0);
    const left = Date.now();
    expect(await alarmAt(stub)).toBeGreaterThanOrEqual(left - 1_000 + RETENTION_MS);
    // The ticket's id is kept until the ticket expires, however long the room has been idle.
    await rewindIdle(stub, RETENTION_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await rows(stub)).toMatchObject({ used_tickets: 1 });
    await rewind(stub, RETENTION_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await rows(stub)).toEqual({});
  });

  it("clears a sharded room's sequencer and each shard on its own alarm once nobody is there", async () => {
    const room = newRoom();
    expect((await call("PUT", `/v1/rooms/${room}/shards`, { shards: 2 })).status).toBe(200);
    const sequencer = env.ROOM.getByName(room);
    const shard = env.ROOM_SHARD.getByName(shardName(room, shardOf("ada", 2)));
    const ada = await RoomSocket.join(room, "ada");
    ada.send({ type: "message", data: "hi", id: "m1" });
    await ada.next((f) => f.type === "ack");
    closeAll(ada);
    await until(async () => (await call<{ connections: number }>("GET", `/v1/rooms/${room}`)).body.connections === 0);
    for (const stub of [sequencer, shard] as Stub[]) {
      expect(await alarmAt(stub)).toBeGreaterThan(Date.now());
      expect(Object.keys(await rows(stub)).length).toBeGreaterThan(0);
      await rewind(stub, RETENTION_MS);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await rows(stub)).toEqual({});
      expect(await alarmAt(stub)).toBeNull();
    }
    // Forgotten entirely, its layout included: the room is unsharded again until someone sets its shards.
    expect((await call("GET", `/v1/rooms/${room}`)).body).toEqual({
      room,
      members: [],
      count: 0,
      connections: 0,
      lastSeq: 0,
    });
  });
});
