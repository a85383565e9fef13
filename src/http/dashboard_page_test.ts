/**
 * Tests for the dashboard page as text: self-contained (no URL to any other host, no external
 * script, style, image or font), its inline script parses, every test hook is there, and the
 * status app serves it at `GET /`.
 */
import { expect, test } from "bun:test";
import { DASHBOARD_HTML } from "./dashboard_page.ts";
import { createStatusApp, type StatusAppDeps } from "./status_app.ts";

const html = DASHBOARD_HTML;

test("dashboard page - is one HTML document imported as text", () => {
  expect(html).toBeString();
  expect(html).toStartWith("<!doctype html>");
  expect(html.trimEnd()).toEndWith("</html>");
});

test("dashboard page - names no other host: no http(s) or protocol-relative URL anywhere", () => {
  expect(html.match(/\b(?:https?|wss?|ftp):\/\/[^\s"'<>)]*/gi) ?? []).toEqual([]);
  expect(html.match(/["'(=]\s*\/\/[^\s"'<>)]+/g) ?? []).toEqual([]);
  expect(html).not.toMatch(/@import|@font-face/i);
});

test("dashboard page - every src, href and url() is relative or a data: URL", () => {
  const refs = [...html.matchAll(/\b(?:src|href|action)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]);
  refs.push(...[...html.matchAll(/url\(\s*["']?([^"')]*)/gi)].map((m) => m[1]));
  for (const ref of refs) expect(ref).toMatch(/^(?:data:|[a-z0-9_./?=&-]*$)/i);
  expect(html).not.toMatch(/<script[^>]*\bsrc=/i);
  expect(html).not.toMatch(/<link[^>]*rel=["']?stylesheet/i);
});

test("dashboard page - a CSP forbids every fetch but the status server's own", () => {
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("connect-src 'self'");
});

test("dashboard page - fetches exactly the status server's JSON endpoints, by relative path", () => {
  const paths = [...html.matchAll(/getJson\(([^)]*)\)/g)].map((m) => m[1]).filter((a) => a !== "path");
  expect(paths).toEqual(["`windows?key=${key}&from=${from}&to=${to}`", '"status"', '"status/history"', '"checkpoints"', "`counts?top=${TOP}`"]);
  expect(html.match(/\bfetch\(/g)?.length).toBe(1);
});

test("dashboard page - its inline script parses", () => {
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  expect(scripts).toHaveLength(1);
  expect(() => new Function(scripts[0])).not.toThrow();
});

test("dashboard page - has the data-testid hooks that tests read", () => {
  for (const id of [
    "state", "records-in", "records-per-second", "restarts", "dead-lettered", "latest-checkpoint", "keys",
    "refreshed", "job-graph", "throughput", "checkpoint-timeline", "lag", "top-keys", "records-committed", "count-subtasks",
    "cluster-card", "cluster-summary", "cluster-members", "cluster-leases",
  ]) expect(html).toContain(`data-testid="${id}"`);
  for (const id of [
    "top-key-row", "lag-row", "checkpoint", "graph-split", "graph-source", "graph-count", "subtask-row", "cluster-member", "cluster-lease",
  ]) {
    expect(html).toContain(`data-testid="${id}"`);
  }
});

test("dashboard page - the cluster card starts hidden (the page shows it when /status has a cluster section)", () => {
  expect(html).toMatch(/<section class="card w12" data-testid="cluster-card" hidden>/);
});

test("dashboard page - the status app serves it at GET / as HTML", async () => {
  // GET / reads neither the job nor the store.
  const app = createStatusApp({ job: {}, store: {}, version: "test", dashboardHtml: html } as unknown as StatusAppDeps);
  const res = await app.request("/");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/html");
  expect(await res.text()).toBe(html);
  expect((await app.request("/", { method: "DELETE" })).status).toBe(405);
});
