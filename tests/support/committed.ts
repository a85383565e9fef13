/**
 * @module
 * Reads the committed counts straight from libSQL (a file or a server), as any libSQL client would.
 */
import { createClient } from "@libsql/client";
import { pathToFileURL } from "node:url";

/** Every committed `key → count` of the libSQL file `dbFile`. */
export function committedCounts(dbFile: string): Promise<Map<string, number>> {
  return committedCountsAt(pathToFileURL(dbFile).href); // a file URL: "#" or "?" in a path are not URL syntax
}

/** Every committed `key → count` at a libSQL URL (a file or a libSQL server). */
export async function committedCountsAt(url: string): Promise<Map<string, number>> {
  const db = createClient({ url });
  try {
    const rs = await db.execute("SELECT key, count FROM counts");
    return new Map(rs.rows.map((r) => [r[0] as string, Number(r[1])]));
  } finally {
    db.close();
  }
}
