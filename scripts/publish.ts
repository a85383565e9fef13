/**
 * @module
 * Publishes events to JetStream without a `nats` CLI: each argument after the subject is one
 * payload (a JSON object for pvflow), published and acknowledged in order.
 *
 * Run: `NATS_URL=nats://127.0.0.1:4222 node_modules/.bin/bun scripts/publish.ts pv.0 '{"site":"example.com"}' ...`
 */
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const [subject, ...payloads] = process.argv.slice(2);
if (!subject || payloads.length === 0) {
  console.error(`usage: bun scripts/publish.ts <subject> '<json event>' ...`);
  process.exit(2);
}
const nc = await connect({ servers: (process.env.NATS_URL ?? "nats://127.0.0.1:4222").split(",") });
const js = jetstream(nc);
for (const p of payloads) {
  const ack = await js.publish(subject, p);
  console.log(`stored in ${ack.stream} as #${ack.seq}: ${p}`);
}
await nc.close();
