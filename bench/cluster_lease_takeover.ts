/**
 * @module
 * Lease takeover alone, the failover benchmark's baseline: three members share 12 splits in a
 * lease bucket on the given NATS servers; one stops without releasing (as if killed); the time
 * from then until the survivors own every split (at most the TTL after its last renewal plus the
 * 0.1 s margin of round_delay.ts). No pipeline, no commits: what failover costs beyond this is pvflow's.
 */
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { LeaseStore } from "../src/cluster/leases.ts";
import { Membership } from "../src/cluster/membership.ts";

/** Milliseconds from a member's silent stop to the survivors owning all its splits (TTL `ttlMs`). */
export async function leaseTakeoverMs(natsUrls: string, bucket: string, replicas: number, ttlMs = 6000): Promise<number> {
  const splits = Array.from({ length: 12 }, (_, i) => `pv.${i}`);
  const conns = [];
  const members: Membership[] = [];
  try {
    for (const id of ["a", "b", "c"]) {
      const nc = await connect({ servers: natsUrls.split(",") });
      conns.push(nc);
      const store = await LeaseStore.open({ js: jetstream(nc), jsm: await jetstreamManager(nc), bucket, ttlMs, replicas });
      members.push(new Membership({ store, member: id, splits }));
    }
    for (const m of members) m.start();
    while (!members.every((m) => m.owned.length === 4)) await Bun.sleep(20);
    await Bun.sleep(ttlMs / 2); // let renewals settle into their rhythm
    const killedAt = performance.now();
    await members[2].stop();
    const owners = () => members.slice(0, 2).flatMap((m) => m.owned);
    while (new Set(owners()).size !== splits.length) await Bun.sleep(5);
    return performance.now() - killedAt;
  } finally {
    for (const m of members) await m.stop();
    for (const nc of conns) await nc.close();
  }
}
