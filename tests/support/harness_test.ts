/**
 * @module
 * Proves the test launchers work: JetStream on a real nats-server (including across restart) and
 * libSQL over HTTP on a real sqld.
 */
import { expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "./nats_server.ts";
import { Sqld } from "./sqld.ts";

test("nats harness - publishes to and reads from a JetStream stream", async () => {
  await using ns = await NatsServer.start();
  expect(ns.url).toBe(`nats://127.0.0.1:${ns.port}`);
  const nc = await connect({ servers: ns.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PV", subjects: ["pv.>"] });
    const ack = await jetstream(nc).publish("pv.0", JSON.stringify({ site: "a" }));
    expect(ack).toMatchObject({ stream: "PV", seq: 1 });
    const consumer = await jetstream(nc).consumers.get("PV");
    const msg = await consumer.next({ expires: 2000 });
    expect(msg?.subject).toBe("pv.0");
    expect(msg?.json()).toEqual({ site: "a" });
  } finally {
    await nc.close();
  }
});

test("nats harness - restart keeps the port and the stream's messages, and clients reconnect", async () => {
  await using ns = await NatsServer.start();
  const { port, storeDir } = ns;
  const nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PV", subjects: ["pv.>"] });
    const js = jetstream(nc);
    for (const site of ["a", "b", "c"]) await js.publish(`pv.${site}`, site);

    // nats.js v3 drops whatever is sent while disconnected (each reconnect attempt resets the
    // outbound buffer), so wait for the reconnect before the next request.
    const reconnected = (async () => {
      for await (const s of nc.status()) if (s.type === "reconnect") return;
    })();
    await ns.restart();
    expect(ns.port).toBe(port);
    expect(ns.storeDir).toBe(storeDir);
    await reconnected;

    const info = await jsm.streams.info("PV"); // over the same, reconnected client
    expect(info.state.messages).toBe(3);
    const m = await jsm.streams.getMessage("PV", { seq: 3 });
    expect(m?.string()).toBe("c");
  } finally {
    await nc.close();
  }
});

test("nats harness - extra config text is applied", async () => {
  await using ns = await NatsServer.start({ config: `authorization { token: "s3cret" }` });
  await expect(connect({ servers: ns.url, reconnect: false })).rejects.toThrow();
  const nc = await connect({ servers: ns.url, token: "s3cret" });
  await nc.close();
});

test("nats harness - a server that fails to start is reported with its stderr", async () => {
  await expect(NatsServer.start({ config: "port: not_a_port" })).rejects.toThrow(/nats-server exited with 1 .*stderr:\n.*server\.1\.conf:5:1/s);
});

test("nats harness - a missing nats-server is reported with an install hint", async () => {
  const path = process.env.PATH;
  process.env.PATH = "/nonexistent";
  try {
    await expect(NatsServer.start()).rejects.toThrow(
      "nats-server not found on PATH: install it with `apt-get install -y nats-server`",
    );
  } finally {
    process.env.PATH = path;
  }
});

test("sqld harness - creates a table and reads a row back over HTTP", async () => {
  await using db = await Sqld.start();
  expect(db.url).toBe(`http://127.0.0.1:${db.port}`);
  const client = createClient({ url: db.url });
  try {
    await client.execute("CREATE TABLE counts (key TEXT PRIMARY KEY, n INTEGER NOT NULL)");
    await client.execute({ sql: "INSERT INTO counts VALUES (?, ?)", args: ["a", 7] });
    const rs = await client.execute("SELECT key, n FROM counts");
    expect(rs.rows.map((r) => [r.key, r.n])).toEqual([["a", 7]]);
  } finally {
    client.close();
  }
});
