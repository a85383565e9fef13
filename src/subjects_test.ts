import { expect, test } from "bun:test";
import { isSubject, subjectIsSubset, subjectsOverlap } from "./subjects.ts";

test("subjects - isSubject accepts tokens and, with wildcards, * anywhere and > last", () => {
  for (const s of ["pv", "pv.0", "a.b-c.d_e"]) expect([s, isSubject(s, false)]).toEqual([s, true]);
  for (const s of ["pv.*", "pv.>", "*.x.>", ">"]) expect([s, isSubject(s, true), isSubject(s, false)]).toEqual([s, true, false]);
  for (const s of ["", "pv.", ".pv", "pv..x", "pv.>.x", "pv.a*", "p v"]) expect([s, isSubject(s, true)]).toEqual([s, false]);
});

test("subjects - subjectsOverlap follows NATS wildcard rules, symmetrically", () => {
  const yes = [["pv.>", "pv.0"], ["pv.0", "pv.0"], ["pv.*", "pv.1"], ["pv.*.x", "pv.a.*"], [">", "a.b"], ["pv.>", "pv.*"]];
  const no = [["pv.0", "pv.1"], ["pv.>", "pv"], ["pv.*", "pv.1.2"], ["pv.0", "pv.0.1"], ["a.>", "b.>"], ["pv.*", "pv"]];
  for (const [a, b] of yes) expect([a, b, subjectsOverlap(a, b), subjectsOverlap(b, a)]).toEqual([a, b, true, true]);
  for (const [a, b] of no) expect([a, b, subjectsOverlap(a, b), subjectsOverlap(b, a)]).toEqual([a, b, false, false]);
});

test("subjects - subjectIsSubset: every subject the first matches, the second matches too", () => {
  const yes = [
    ["pv.0", "pv.0"], ["pv.0", "pv.*"], ["pv.0", "pv.>"], ["pv.*", "pv.>"], ["pv.a.b", "pv.>"], ["pv.>", "pv.>"],
    ["pv.*.x", "pv.*.*"], ["pv.*.x", "pv.>"], ["a.b", ">"], [">", ">"], ["pv.*", "*.*"],
  ];
  const no = [
    ["pv.*", "pv.0"], ["pv.>", "pv.*"], ["pv", "pv.>"], ["pv.0.1", "pv.*"], ["pv.1", "pv.0"], [">", "pv.>"],
    ["pv.>", "pv.*.>"], ["x.0", "pv.>"], ["pv", "pv.*"], ["pv.0", "pv"],
  ];
  for (const [a, b] of yes) expect([a, b, subjectIsSubset(a, b)]).toEqual([a, b, true]);
  for (const [a, b] of no) expect([a, b, subjectIsSubset(a, b)]).toEqual([a, b, false]);
});
