/**
 * @module
 * {@link PullSession} against a real nats-server: messages in order, at most ~1.5 batches asked
 * for and not handled (however slow the handler), requests renewed as they expire, and the
 * session's end when its consumer is deleted or its server stops sending heartbeats.
 */
import { expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import type { Msg } from "@nats-io/nats-core";
import { AckPolicy, DeliverPolicy, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../../tests/support/nats_server.ts";
import { waitFor } from "../../tests/support/pvflow_process.ts";
import { sleep } from "../platform.ts";
import { AckSubjectParser } from "./ack_subject.ts";
import { PullSession, type PullSessionOptions } from "./pull_session.ts";

async function setup(nats: NatsServer, n: number) {
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "S", subjects: ["s.>"] });
  for (let i = 0; i < n; i++) nc.publish("s.a", String(i));
  await nc.flush();
  await waitFor(async () => (await jsm.streams.info("S")).state.messages === n, 10_000, () => "not stored");
  const consumer = `c${Math.floor(Math.random() * 1e6)}`;
  await jsm.consumers.add("S", { name: consumer, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, mem_storage: true });
  return { nc, jsm, consumer };
}

function session(o: Omit<PullSessionOptions, "stream" | "onEnd">): { s: PullSession; ended: Promise<string | undefined> } {
  const ended = Promise.withResolvers<string | undefined>();
  return { s: new PullSession({ stream: "S", onEnd: (why) => ended.resolve(why), ...o }), ended: ended.promise };
}

test("pull session - every message in order, with at most 1.5 batches asked for and not handled", async () => {
  await using nats = await NatsServer.start();
  const { nc, consumer } = await setup(nats, 5_000);
  const got: Msg[] = [];
  const { s } = session({ nc, consumer, batch: 100, heartbeatMs: 1000, expiresMs: 5000, onMessage: (m) => got.push(m) });
  await sleep(300); // nothing handled: the session asked for one batch and must wait
  expect(got.length).toBe(100);
  let handled = 0;
  const ack = new AckSubjectParser();
  while (handled < 5_000) {
    await waitFor(() => got.length > handled, 5_000, () => `stuck at ${handled}`);
    expect(got.length - handled).toBeLessThanOrEqual(150);
    for (; handled < got.length; handled++) {
      expect(ack.parse(got[handled].reply!)).toBe(true);
      expect(ack.cseq).toBe(handled + 1);
      expect(new TextDecoder().decode(got[handled].data)).toBe(String(handled));
      s.handled();
    }
  }
  s.end(undefined);
  await nc.close();
});

test("pull session - requests that expire are renewed: a message published later still arrives", async () => {
  await using nats = await NatsServer.start();
  const { nc, consumer } = await setup(nats, 0);
  const got: Msg[] = [];
  const { s, ended } = session({ nc, consumer, batch: 10, heartbeatMs: 200, expiresMs: 1000, onMessage: (m) => { got.push(m); s.handled(); } });
  await sleep(2_500); // two requests expired (408) meanwhile, heartbeats kept it alive
  nc.publish("s.a", "late");
  await waitFor(() => got.length === 1, 5_000, () => "the late message did not arrive");
  expect(await Promise.race([ended, sleep(100).then(() => "running")])).toBe("running");
  s.end(undefined);
  await nc.close();
});

test("pull session - a handler that held everything asked for longer than two heartbeats, on a drained stream, is not taken for a dead server", async () => {
  await using nats = await NatsServer.start();
  const { nc, consumer } = await setup(nats, 10);
  const got: Msg[] = [];
  const { s, ended } = session({ nc, consumer, batch: 10, heartbeatMs: 200, expiresMs: 1000, onMessage: (m) => got.push(m) });
  await waitFor(() => got.length === 10, 5_000, () => "the 10 messages did not arrive");
  await sleep(1_200); // backpressure: nothing handled, no request open, no heartbeat due
  s.handled(10); // a new request now; the server's first heartbeat for it comes a heartbeat later
  expect(await Promise.race([ended, sleep(700).then(() => "running")])).toBe("running");
  nc.publish("s.a", "after");
  await waitFor(() => got.length === 11, 5_000, () => "the later message did not arrive");
  s.end(undefined);
  await nc.close();
});

test("pull session - ends when its consumer is deleted, and when its server stops sending heartbeats", async () => {
  await using nats = await NatsServer.start();
  const { nc, jsm, consumer } = await setup(nats, 10);
  const a = session({ nc, consumer, batch: 100, heartbeatMs: 200, expiresMs: 5000, onMessage: () => a.s.handled() });
  await sleep(200);
  await jsm.consumers.delete("S", consumer);
  expect(await a.ended).toMatch(/409|heartbeats|503/);
  const c2 = "second";
  await jsm.consumers.add("S", { name: c2, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, mem_storage: true });
  const b = session({ nc, consumer: c2, batch: 100, heartbeatMs: 200, expiresMs: 5000, onMessage: () => b.s.handled() });
  await sleep(300);
  process.kill(nats.pid!, "SIGSTOP"); // a server that is there but answers nothing: no heartbeat comes
  try {
    expect(await b.ended).toBe("2 heartbeats missed (its server is gone?)");
  } finally {
    process.kill(nats.pid!, "SIGCONT");
  }
  await nc.close();
});
