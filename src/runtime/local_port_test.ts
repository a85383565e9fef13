import { expect, test } from "bun:test";
import { localPortPair } from "./local_port.ts";
import { InputChannel, OutputChannel } from "./channel.ts";
import type { StreamElement } from "../types.ts";

test("local port - delivers in order, after the sender's current work, by reference; nothing after close", async () => {
  const [a, b] = localPortPair();
  const got: unknown[] = [];
  b.onmessage = (e) => got.push(e.data);
  const batch = ["k1", "k2"];
  a.postMessage(batch);
  a.postMessage({ n: 2 });
  expect(got).toEqual([]); // asynchronous, like a MessagePort
  await Promise.resolve();
  expect(got).toEqual([batch, { n: 2 }]);
  expect(got[0]).toBe(batch); // not a copy
  const back: unknown[] = [];
  a.onmessage = (e) => back.push(e.data);
  b.postMessage("credit");
  b.close();
  a.postMessage("after close");
  await Promise.resolve();
  expect(back).toEqual(["credit"]);
  expect(got.length).toBe(2);
});

test("local port - a channel over it keeps its credits: the sender waits until the receiver grants", async () => {
  const [a, b] = localPortPair();
  const out = new OutputChannel(a, 1);
  const received: StreamElement[] = [];
  const input = new InputChannel(b, (el) => received.push(el));
  out.sendRecords(["x"]);
  expect(out.writable).toBe(false);
  let woke = false;
  const waiting = out.whenWritable().then(() => (woke = true));
  await Promise.resolve();
  expect(received).toEqual([{ kind: "records", keys: ["x"] }]);
  expect(woke).toBe(false);
  input.grant();
  await waiting;
  expect(out.writable).toBe(true);
});
