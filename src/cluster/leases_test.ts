/** @module Lease store tests against a real nats-server: races, renewals, expiry, release, fencing epochs. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { sleep } from "../platform.ts";
import { NatsServer } from "../../tests/support/nats_server.ts";
import { LeaseStore, type Lease } from "./leases.ts";

const TTL = 1500;
let nats: NatsServer;
const conns: NatsConnection[] = [];
let bucketNo = 0;

beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  for (const nc of conns) await nc.close();
  await nats[Symbol.asyncDispose]();
});

/** `n` stores on the same fresh bucket, each on its own connection (as separate instances). */
async function stores(n: number, ttlMs = TTL): Promise<LeaseStore[]> {
  const bucket = `leases_${++bucketNo}`;
  const out: LeaseStore[] = [];
  for (let i = 0; i < n; i++) {
    const nc = await connect({ servers: nats.url });
    conns.push(nc);
    out.push(await LeaseStore.open({ js: jetstream(nc), jsm: await jetstreamManager(nc), bucket, ttlMs }));
  }
  return out;
}

async function held(r: Promise<{ ok: true; lease: Lease } | { ok: false; owner: string | undefined }>): Promise<Lease> {
  const got = await r;
  if (!got.ok) throw new Error(`expected the lease, held by ${got.owner}`);
  return got.lease;
}

describe("leases", () => {
  test("leases - members racing for a split: exactly one wins, the others see it held", async () => {
    const [a, b, c] = await stores(3);
    for (let i = 0; i < 20; i++) {
      const split = `pv.${i}`;
      const results = await Promise.all([a.acquire(split, "a"), b.acquire(split, "b"), c.acquire(split, "c")]);
      const winners = results.filter((r) => r.ok);
      expect(winners.length).toBe(1);
      const stored = await a.get(split);
      expect(stored?.owner).toBe(winners[0].ok ? winners[0].lease.owner : "");
      for (const r of results) if (!r.ok && r.owner !== undefined) expect(r.owner).toBe(stored!.owner);
    }
  });

  test("leases - renew keeps the epoch, moves the revision, and keeps the lease past its TTL", async () => {
    const [a, b] = await stores(2);
    let lease = await held(a.acquire("pv.0", "a"));
    const epoch = lease.epoch;
    const end = Date.now() + TTL * 2.5;
    while (Date.now() < end) {
      await sleep(TTL / 3);
      const next = await a.renew(lease);
      expect(next).toBeDefined();
      expect(next!.revision).toBeGreaterThan(lease.revision);
      expect(next!.epoch).toBe(epoch);
      lease = next!;
      expect(await b.acquire("pv.0", "b")).toEqual({ ok: false, owner: "a" });
    }
  });

  test("leases - after the TTL without renewal another member acquires, with a greater epoch; the old owner's renew fails", async () => {
    const [a, b] = await stores(2);
    const old = await held(a.acquire("pv.1", "a"));
    expect(await b.acquire("pv.1", "b")).toEqual({ ok: false, owner: "a" });
    await waitUntil(async () => (await b.get("pv.1")) === undefined, TTL * 4, "the lease to expire");
    const taken = await held(b.acquire("pv.1", "b"));
    expect(taken.epoch).toBeGreaterThan(old.epoch);
    expect(await a.renew(old)).toBeUndefined();
    expect(await a.release(old)).toBe(false);
    expect((await a.get("pv.1"))?.owner).toBe("b");
  });

  test("leases - a stale revision of another acquisition cannot renew; a lost ack of one's own renewal is recovered", async () => {
    const [a] = await stores(1);
    const first = await held(a.acquire("pv.2", "a"));
    const second = await held(a.acquire("pv.2", "a")); // re-acquired: a new epoch fences the first
    expect(second.epoch).toBeGreaterThan(first.epoch);
    expect(await a.renew(first)).toBeUndefined();
    const renewed = await a.renew(second);
    expect(renewed).toBeDefined();
    // `second` is now stale by revision but the same acquisition (as when a renewal's ack is lost).
    const recovered = await a.renew(second);
    expect(recovered?.epoch).toBe(second.epoch);
    expect(recovered!.revision).toBeGreaterThan(renewed!.revision);
  });

  test("leases - release frees the split at once; epochs strictly increase across owners", async () => {
    const [a, b, c] = await stores(3);
    const byName = { a, b, c } as const;
    let epoch = 0;
    for (const name of ["a", "b", "c", "a", "c", "b"] as const) {
      const lease = await held(byName[name].acquire("pv.3", name));
      expect(lease.epoch).toBeGreaterThan(epoch);
      epoch = lease.epoch;
      for (const other of ["a", "b", "c"] as const) {
        if (other !== name) expect(await byName[other].acquire("pv.3", other)).toEqual({ ok: false, owner: name });
      }
      expect(await byName[name].release(lease)).toBe(true);
      expect(await a.get("pv.3")).toBeUndefined();
    }
  });

  test("leases - list shows every held lease with owner, revision, epoch and age; released and expired ones are gone", async () => {
    const [a, b] = await stores(2);
    const la = await held(a.acquire("pv.>", "a"));
    const lb = await held(b.acquire("pv.9", "b"));
    await held(b.acquire("pv.8", "b")).then((l) => b.release(l));
    const listed = await a.list();
    expect(listed.map((l) => [l.split, l.owner, l.revision, l.epoch])).toEqual([
      ["pv.9", "b", lb.revision, lb.epoch],
      ["pv.>", "a", la.revision, la.epoch],
    ].sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1)));
    for (const l of listed) expect(l.ageMs).toBeLessThan(TTL * 2);
    await waitUntil(async () => (await a.list()).length === 0, TTL * 4, "the leases to expire");
  });

  test("leases - member heartbeats live for the TTL; a leave removes one at once", async () => {
    const [a, b] = await stores(2);
    await a.heartbeat("host-1:10");
    await b.heartbeat("host-2:20");
    expect((await a.members()).map((m) => m.member)).toEqual(["host-1:10", "host-2:20"]);
    const end = Date.now() + TTL * 2;
    while (Date.now() < end) {
      await a.heartbeat("host-1:10");
      await sleep(TTL / 3);
    }
    expect((await b.members()).map((m) => m.member)).toEqual(["host-1:10"]);
    await a.leave("host-1:10");
    expect(await b.members()).toEqual([]);
  });

  test("leases - a bucket is opened again as is; another TTL is refused, naming both", async () => {
    const [a] = await stores(1, 2000);
    const nc = await connect({ servers: nats.url });
    conns.push(nc);
    const bucket = `leases_${bucketNo}`;
    const o = { js: jetstream(nc), jsm: await jetstreamManager(nc), bucket };
    await LeaseStore.open({ ...o, ttlMs: 2000 });
    expect(a.ttlMs).toBe(2000);
    await expect(LeaseStore.open({ ...o, ttlMs: 3000 })).rejects.toThrow(`lease bucket ${bucket} exists with TTL 2000 ms and 1 replicas, expected TTL 3000 ms and 1 replicas`);
    await expect(LeaseStore.open({ ...o, bucket: "a.b" })).rejects.toThrow('lease bucket must match [A-Za-z0-9_-]+, got "a.b"');
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
