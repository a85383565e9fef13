/**
 * @module
 * Reads the stream sequence and the pending count of a JetStream message from its reply (ack)
 * subject without allocating (and the consumer sequence, which a reader checks for gaps): `JsMsg.info` splits the subject into an array and builds an object
 * per message, which was a fifth of a source subtask's time. Both ack subject formats are known:
 *
 *     $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>                       (v1)
 *     $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]  (v2)
 */

/** Parses ack subjects into {@link seq} and {@link pending}; one instance per reading loop. */
export class AckSubjectParser {
  /** Stream sequence of the last parsed message. */
  seq = 0;
  /** Consumer (delivery) sequence of the last parsed message: +1 per delivered message. */
  cseq = 0;
  /** Messages still pending for the consumer after the last parsed message. */
  pending = 0;
  #dots = new Int32Array(16);

  /** Parses `reply`; false when it is not a JetStream ack subject. */
  parse(reply: string): boolean {
    const dots = this.#dots;
    let n = 0;
    for (let i = 0; i < reply.length && n < 16; i++) if (reply.charCodeAt(i) === 46) dots[n++] = i;
    const tokens = n + 1;
    let seqToken: number;
    if (tokens === 9) seqToken = 5;
    else if (tokens === 11 || tokens === 12) seqToken = 7;
    else return false;
    if (!reply.startsWith("$JS.ACK.")) return false;
    const seq = digits(reply, dots[seqToken - 1] + 1, dots[seqToken]);
    const cseq = digits(reply, dots[seqToken] + 1, dots[seqToken + 1]);
    const pending = digits(reply, dots[seqToken + 2] + 1, tokens === 12 ? dots[seqToken + 3] : reply.length);
    if (seq < 0 || cseq < 0 || pending < 0) return false;
    this.seq = seq;
    this.cseq = cseq;
    this.pending = pending;
    return true;
  }
}

/** The decimal number in `s[start, end)`, or -1 when it is not one. */
function digits(s: string, start: number, end: number): number {
  if (end <= start) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
