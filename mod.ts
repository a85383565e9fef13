import { createClient } from "@libsql/client";
const db = createClient({ url: process.env.PVFLOW_DB_URL ?? "file:pvflow.db" });
await db.execute("create table if not exists t(x)");
const w = new Worker(new URL("./src/runtime/task_worker.ts", import.meta.url));
const echo = await new Promise((r) => { w.onmessage = (e) => r(e.data); w.postMessage("hi"); });
console.log("echo", echo, import.meta.url);
const s = Bun.serve({ port: 0, fetch: () => new Response("ok") });
console.log("port", s.port);
process.on("SIGTERM", () => { console.log("bye"); process.exit(0); });
