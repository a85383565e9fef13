import { expect, test } from "bun:test";
import { JSC_OPTIONS, tunedEnvironment } from "./jsc_tuning.ts";

test("jsc tuning - adds every missing option and keeps the rest of the environment", () => {
  const env = tunedEnvironment({ PATH: "/bin", PVFLOW_STREAM: "PV", UNSET: undefined });
  expect(env).toEqual({ PATH: "/bin", PVFLOW_STREAM: "PV", ...JSC_OPTIONS });
});

test("jsc tuning - a value the user set is kept; nothing missing means no re-execution", () => {
  const mine = Object.fromEntries(Object.keys(JSC_OPTIONS).map((k) => [k, "16384"]));
  expect(tunedEnvironment({ PATH: "/bin", ...mine })).toBeUndefined();
});

test("jsc tuning - other JavaScriptCore options of the user travel along", () => {
  expect(tunedEnvironment({ BUN_JSC_useJIT: "0" })).toEqual({ BUN_JSC_useJIT: "0", ...JSC_OPTIONS });
});
