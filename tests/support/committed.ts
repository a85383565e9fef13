/**
 * @module
 * Reads the committed counts straight from a libSQL file, as any libSQL client would.
 */
import { createClient } from "@libsql/client";

/** Every committed `key → count`. */
export async function committedCounts(dbFile: string): Promise<Map<string, number>> {
  const db = createClient({ url: `file:${dbFile}` });
  try {
    const rs = await db.execute("SELECT key, count FROM counts");
    return new Map(rs.rows.map((r) => [r[0] as string, Number(r[1])]));
  } finally {
    db.close();
  }
}
