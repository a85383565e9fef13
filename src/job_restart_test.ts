/**
 * @module
 * Unit tests for {@link RestartPolicy}: counted failures bound the attempts, a completed
 * checkpoint resets them, dependency outages are never counted, the delay doubles up to its cap.
 */
import { expect, test } from "bun:test";
import { RestartPolicy } from "./job_restart.ts";

const fail = { completedCheckpoint: false, dependencyDown: false };

test("restart policy - gives up after `attempts` failures in a row, with doubling capped delays", () => {
  const p = new RestartPolicy({ attempts: 3, backoffMs: 100, backoffMaxMs: 350 });
  expect([1, 2, 3, 4].map(() => p.onFailure(fail))).toEqual([
    { giveUp: false, delayMs: 100, failures: 1 },
    { giveUp: false, delayMs: 200, failures: 2 },
    { giveUp: false, delayMs: 350, failures: 3 },
    { giveUp: true, delayMs: 350, failures: 4 },
  ]);
});

test("restart policy - zero attempts gives up at the first failure", () => {
  expect(new RestartPolicy({ attempts: 0, backoffMs: 1, backoffMaxMs: 1 }).onFailure(fail).giveUp).toBe(true);
});

test("restart policy - an attempt that completed a checkpoint resets the count", () => {
  const p = new RestartPolicy({ attempts: 2, backoffMs: 100, backoffMaxMs: 10_000 });
  p.onFailure(fail);
  p.onFailure(fail);
  expect(p.onFailure({ completedCheckpoint: true, dependencyDown: false })).toEqual({ giveUp: false, delayMs: 100, failures: 1 });
});

test("restart policy - failures while NATS or libSQL is unreachable are never counted, however many", () => {
  const p = new RestartPolicy({ attempts: 2, backoffMs: 100, backoffMaxMs: 1000 });
  p.onFailure(fail);
  for (let i = 0; i < 1000; i++) {
    const d = p.onFailure({ completedCheckpoint: false, dependencyDown: true });
    expect(d.giveUp).toBe(false);
    expect(d.failures).toBe(1);
    expect(d.delayMs).toBeLessThanOrEqual(1000);
  }
  expect(p.onFailure(fail)).toEqual({ giveUp: false, delayMs: 1000, failures: 2 });
  expect(p.onFailure(fail).giveUp).toBe(true);
});
