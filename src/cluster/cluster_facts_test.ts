/** @module Unit tests of the facts cluster members must agree on. */
import { expect, test } from "bun:test";
import { loadConfig } from "../config.ts";
import { clusterFacts, factsMismatch } from "./cluster_facts.ts";

const env = { PVFLOW_DB_URL: "http://user:secret@db:8080", PVFLOW_CLUSTER: "c", PVFLOW_SUBJECTS: "pv.0,pv.1" };

test("cluster facts - the same config in another order agrees; the database is a digest, never the URL", () => {
  const a = clusterFacts(loadConfig(env));
  const b = clusterFacts(loadConfig({ ...env, PVFLOW_SUBJECTS: "pv.1,pv.0" }));
  expect(a).toEqual(b);
  expect(JSON.stringify(a)).not.toContain("secret");
  expect(factsMismatch(a, [{ member: "x", ageMs: 0, facts: b }], "me")).toBeUndefined();
});

test("cluster facts - another split set, key field or database is named in one line; itself and old members are skipped", () => {
  const mine = clusterFacts(loadConfig(env));
  const other = (extra: Record<string, string>) => [{ member: "b", ageMs: 0, facts: clusterFacts(loadConfig({ ...env, ...extra })) }];
  expect(factsMismatch(mine, other({ PVFLOW_SUBJECTS: "pv.0" }), "me")).toBe(
    'PVFLOW_SUBJECTS must be the same on every instance of the cluster: instance b uses "pv.0", got "pv.0,pv.1"');
  expect(factsMismatch(mine, other({ PVFLOW_KEY_FIELD: "user" }), "me")).toStartWith("PVFLOW_KEY_FIELD must be the same");
  expect(factsMismatch(mine, other({ PVFLOW_DB_URL: "http://db2:8080" }), "me")).toMatch(/^PVFLOW_DB_URL .* a database with digest [0-9a-f]{16}/);
  expect(factsMismatch(mine, [{ member: "me", ageMs: 0, facts: {} }, { member: "old", ageMs: 0 }], "me")).toBeUndefined();
});
