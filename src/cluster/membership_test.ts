/**
 * @module
 * Three members in one process against a real nats-server: they converge to a balanced, exclusive
 * assignment; a member that stops without releasing (a kill) has its splits taken over once its
 * leases expire, and no survivor gives up a split; a member joining moves only its share; a member
 * leaving gracefully hands its splits over.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { sleep } from "../platform.ts";
import { NatsServer } from "../../tests/support/nats_server.ts";
import { LeaseStore } from "./leases.ts";
import { Membership } from "./membership.ts";

const TTL = 1500;
const RENEW = 400;
const SPLITS = Array.from({ length: 9 }, (_, i) => `pv.${i}`);
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

interface Member { id: string; m: Membership; store: LeaseStore; changes: string[][] }

/** A member on its own connection; `overlaps` collects any split two running members claim at once. */
async function member(bucket: string, id: string, all: Member[], overlaps: string[]): Promise<Member> {
  const nc = await connect({ servers: nats.url });
  conns.push(nc);
  const store = await LeaseStore.open({ js: jetstream(nc), jsm: await jetstreamManager(nc), bucket, ttlMs: TTL });
  const changes: string[][] = [];
  const m = new Membership({
    store, member: id, splits: SPLITS, renewEveryMs: RENEW, log: (l) => console.error(`${id}: ${l}`),
    onChange: (owned) => {
      changes.push(owned);
      for (const o of all) {
        if (o.id === id || !running.has(o.id)) continue;
        for (const s of owned) if (o.m.owned.includes(s)) overlaps.push(`${s}: ${id} and ${o.id}`);
      }
    },
  });
  const me = { id, m, store, changes };
  all.push(me);
  return me;
}
const running = new Set<string>();
function start(x: Member): void {
  running.add(x.id);
  x.m.start();
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(50);
  }
}

/** True when the running members own every split once, balanced. */
function balanced(ms: Member[]): boolean {
  const owned = ms.flatMap((x) => x.m.owned);
  const counts = ms.map((x) => x.m.owned.length);
  return owned.length === SPLITS.length && new Set(owned).size === SPLITS.length && Math.max(...counts) - Math.min(...counts) <= 1;
}
const show = (ms: Member[]) => ms.map((x) => `${x.id}=[${x.m.owned}]`).join(" ");

test("membership - converge, a killed member's splits taken over, a joining member moves only its share", async () => {
  const bucket = `members_${++bucketNo}`;
  const all: Member[] = [];
  const overlaps: string[] = [];
  const [a, b, c] = [await member(bucket, "a", all, overlaps), await member(bucket, "b", all, overlaps), await member(bucket, "c", all, overlaps)];
  try {
    for (const x of [a, b, c]) start(x);
    await waitUntil(() => balanced([a, b, c]) && [a, b, c].every((x) => x.m.owned.length === 3), TTL * 10, () => show([a, b, c]));
    // What the members believe matches the bucket, with each lease's epoch.
    const leases = await a.store.list();
    expect(leases.map((l) => [l.split, l.owner]).sort()).toEqual([a, b, c].flatMap((x) => x.m.owned.map((s) => [s, x.id])).sort());
    for (const l of leases) expect(all.find((x) => x.id === l.owner)!.m.epoch(l.split)).toBe(l.epoch);

    // Kill c: its loop stops, its leases are not released.
    const before = { a: a.m.owned, b: b.m.owned, c: c.m.owned };
    running.delete("c");
    await c.m.stop();
    await waitUntil(() => balanced([a, b]), TTL * 10, () => show([a, b]));
    for (const s of before.a) expect(a.m.owned).toContain(s);
    for (const s of before.b) expect(b.m.owned).toContain(s);
    const afterKill = await a.store.list();
    for (const s of before.c) {
      const l = afterKill.find((x) => x.split === s)!;
      expect(l.owner).not.toBe("c");
      expect(l.epoch).toBeGreaterThan(leases.find((x) => x.split === s)!.epoch);
    }

    // d joins: it takes 3 splits, moved from a and b; nothing else moves.
    const d = await member(bucket, "d", all, overlaps);
    const prior = { a: a.m.owned, b: b.m.owned };
    start(d);
    await waitUntil(() => balanced([a, b, d]) && d.m.owned.length === 3, TTL * 10, () => show([a, b, d]));
    const lostByA = prior.a.filter((s) => !a.m.owned.includes(s));
    const lostByB = prior.b.filter((s) => !b.m.owned.includes(s));
    expect(lostByA.length + lostByB.length).toBe(3);
    expect([...lostByA, ...lostByB].sort()).toEqual(d.m.owned);
    for (const s of a.m.owned) expect(prior.a).toContain(s);
    for (const s of b.m.owned) expect(prior.b).toContain(s);

    // d leaves gracefully: its splits go back to a and b.
    running.delete("d");
    await d.m.leave();
    expect(d.m.owned).toEqual([]);
    await waitUntil(() => balanced([a, b]), TTL * 10, () => show([a, b]));
    expect(overlaps).toEqual([]);
    expect(a.changes.length).toBeGreaterThan(0);
  } finally {
    for (const x of all) await x.m.stop();
  }
});

test("membership - an interval too close to the TTL is refused, naming both", async () => {
  const nc = await connect({ servers: nats.url });
  conns.push(nc);
  const store = await LeaseStore.open({ js: jetstream(nc), jsm: await jetstreamManager(nc), bucket: `members_${++bucketNo}`, ttlMs: TTL });
  expect(() => new Membership({ store, member: "a", splits: SPLITS, renewEveryMs: 800 }))
    .toThrow("renew interval must be positive and under half the lease TTL (1500 ms), got 800 ms");
});
