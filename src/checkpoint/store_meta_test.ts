import { afterEach, beforeEach, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../config.ts";
import { CheckpointStore } from "./store.ts";
import { adoptKeyField, adoptWindowSize } from "./store_meta.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-store-meta-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function refusal(url: string, keyField: string): Promise<unknown> {
  const store = await CheckpointStore.open({ url, stream: "PV" });
  try {
    await adoptKeyField(store.client, keyField);
    return undefined;
  } catch (err) {
    return err;
  } finally {
    store.close();
  }
}

test("store meta - a new database records the key field; the same field opens it again", async () => {
  const url = `file:${join(dir, "a.db")}`;
  expect(await refusal(url, "site")).toBeUndefined();
  expect(await refusal(url, "site")).toBeUndefined();
  const c = createClient({ url });
  expect((await c.execute("SELECT value FROM meta WHERE key = 'key_field'")).rows[0][0]).toBe("site");
  c.close();
});

test("store meta - another key field is refused with one line naming PVFLOW_KEY_FIELD and how to start fresh", async () => {
  const url = `file:${join(dir, "b.db")}`;
  expect(await refusal(url, "site")).toBeUndefined();
  const err = await refusal(url, "page");
  expect(err).toBeInstanceOf(ConfigError);
  const message = (err as Error).message;
  expect(message).toBe(
    'PVFLOW_KEY_FIELD must be "site", the field the counts in this PVFLOW_DB_URL are by ' +
      '(to count by another field, start fresh with a new PVFLOW_DB_URL), got "page"',
  );
  // The refusal changed nothing: the old field still opens it.
  expect(await refusal(url, "site")).toBeUndefined();
});

test("store meta - a 0.1.0 database (meta without the key field, counts present) adopts the current field", async () => {
  const url = `file:${join(dir, "old.db")}`;
  const c = createClient({ url });
  await c.batch([
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO meta (key, value) VALUES ('opened_at', '2026-01-01T00:00:00Z')",
    "CREATE TABLE counts (key TEXT PRIMARY KEY, count INTEGER NOT NULL, checkpoint_id INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO counts VALUES ('a', 3, 1)",
  ], "write");
  c.close();
  expect(await refusal(url, "page")).toBeUndefined();
  expect(await refusal(url, "site")).toBeInstanceOf(ConfigError);
});

test("store meta - open windows of another size are refused; windows off abandons them", async () => {
  const store = await CheckpointStore.open({ url: `file:${join(dir, "w.db")}`, stream: "PV" });
  try {
    expect(await adoptWindowSize(store.client, 60_000)).toBe(0);
    await store.client.execute("INSERT INTO window_state VALUES ('a', 0, 1, 0, 0), ('b', 0, 2, 0, 0)");
    expect(await adoptWindowSize(store.client, 60_000)).toBe(0); // same size: kept
    const err = await adoptWindowSize(store.client, 1000).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toStartWith('PVFLOW_WINDOW_MS must be 60000, the size of the open windows in this PVFLOW_DB_URL');
    expect(await adoptWindowSize(store.client, undefined)).toBe(2); // windows off: abandoned
    expect(await adoptWindowSize(store.client, 1000)).toBe(0); // nothing open: any size
    expect((await store.client.execute("SELECT value FROM meta WHERE key = 'window_ms'")).rows[0][0]).toBe("1000");
  } finally {
    store.close();
  }
});
