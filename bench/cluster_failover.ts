/**
 * @module
 * Lease failover time with default settings (TTL 6 s, renew every 2 s): three members share 12
 * splits on a real nats-server; one stops without releasing (a kill); prints JSON with the time
 * from the kill until the survivors own every split (at most TTL + a retry round after its last renewal).
 * Run: `bun bench/cluster_failover.ts`. Only the lease layer: no pipeline, no commits.
 */
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../tests/support/nats_server.ts";
import { LeaseStore } from "../src/cluster/leases.ts";
import { Membership } from "../src/cluster/membership.ts";

const splits = Array.from({ length: 12 }, (_, i) => `pv.${i}`);
await using nats = await NatsServer.start();
const conns = [];
const members: Membership[] = [];
for (const id of ["a", "b", "c"]) {
  const nc = await connect({ servers: nats.url });
  conns.push(nc);
  const store = await LeaseStore.open({ js: jetstream(nc), jsm: await jetstreamManager(nc), bucket: "bench" });
  members.push(new Membership({ store, member: id, splits}));
}
for (const m of members) m.start();
const owners = () => members.slice(0, 2).flatMap((m) => m.owned);
while (!members.every((m) => m.owned.length === 4)) await Bun.sleep(20);
await Bun.sleep(3000); // let renewals settle into their rhythm
const killedAt = Date.now();
await members[2].stop();
while (new Set(owners()).size !== splits.length) await Bun.sleep(10);
const tookOverAt = Date.now();
for (const m of members) await m.stop();
for (const nc of conns) await nc.close();
console.log(JSON.stringify({
  bench: "cluster_failover", ttlMs: 6000, renewEveryMs: 2000, splits: splits.length,
  killToTakeoverMs: tookOverAt - killedAt,
}));
