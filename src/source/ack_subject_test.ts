import { expect, test } from "bun:test";
// parseInfo is not exported by the package; import the file to compare against the reference.
import { parseInfo } from "../../node_modules/@nats-io/jetstream/lib/jsmsg.js";
import { AckSubjectParser } from "./ack_subject.ts";

const cases = [
  "$JS.ACK.PV.pvflow_PV_s0_ab12cd34.1.12345.678.1700000000000000000.42",
  "$JS.ACK.PV.c.3.1.1.1.0",
  "$JS.ACK.hub.ACCHASH.PV.consumer.1.987654321.5.1700000000000000000.7.rand0m",
  "$JS.ACK.hub.ACCHASH.PV.consumer.1.987654321.5.1700000000000000000.7",
];

test("ack subject - agrees with nats.js parseInfo on v1 and v2 subjects", () => {
  const p = new AckSubjectParser();
  for (const s of cases) {
    expect(p.parse(s)).toBe(true);
    const info = parseInfo(s);
    expect({ seq: p.seq, cseq: p.cseq, pending: p.pending })
      .toEqual({ seq: info.streamSequence, cseq: info.deliverySequence, pending: info.pending });
  }
});

test("ack subject - rejects subjects that are not ack subjects", () => {
  const p = new AckSubjectParser();
  for (const s of ["", "pv.0", "$JS.ACK.PV.c.1.x.1.1.0", "$JS.NAK.PV.c.3.1.1.1.0", "$JS.ACK.PV.c.1.2.3", "a.b.c.d.e.f.g.h.i"]) {
    expect(p.parse(s)).toBe(false);
  }
});
