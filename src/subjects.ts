/**
 * @module
 * NATS subject syntax and wildcard algebra (pure): whether a string is a subject, whether two
 * subjects can match a common subject, and whether one is a subset of another.
 */

/** A NATS subject: dot-separated non-empty tokens; with wildcards, `*` as a token, `>` as the last. */
export function isSubject(s: string, wildcards: boolean): boolean {
  const tokens = s.split(".");
  return tokens.every((t, i) =>
    t !== "" && !/\s/.test(t) &&
    (/^[^*>]+$/.test(t) || (wildcards && (t === "*" || (t === ">" && i === tokens.length - 1))))
  );
}

/** Whether two NATS subjects (with `*` and `>` wildcards) can match a common subject. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === ">" || y[i] === ">") return x[i] !== undefined && y[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== y[i] && x[i] !== "*" && y[i] !== "*") return false;
  }
  return true;
}

/**
 * Whether every subject `a` matches is also matched by `b` (NATS's subset match, as the server
 * checks a consumer's filter against its stream's subjects): `pv.0` ⊆ `pv.*` ⊆ `pv.>`.
 */
export function subjectIsSubset(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (y[i] === ">") return x[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined || x[i] === ">") return false;
    if (y[i] !== "*" && x[i] !== y[i]) return false;
  }
  return true;
}
