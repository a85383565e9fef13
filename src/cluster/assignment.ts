/**
 * @module
 * Pure: which live member should own each split. Balanced (owned counts differ by at most 1),
 * sticky (a split moves only if its owner left or holds more than its fair share; the fewest
 * moves any balanced assignment allows) and deterministic (every member computes the same result
 * from the same inputs, whatever their order), like Kafka's sticky assignor.
 */

/** A split's owner (a member id), or undefined when it has none. */
export type Owners = ReadonlyMap<string, string | undefined>;

/**
 * The target owner of every split. `members` are the live members (order and duplicates do not
 * matter); `current` the owners now (owners that are not live members count as none). With no
 * members, the result is empty.
 */
export function assignSplits(members: readonly string[], splits: readonly string[], current: Owners): Map<string, string> {
  const live = [...new Set(members)].sort(compare);
  const sorted = [...new Set(splits)].sort(compare);
  const target = new Map<string, string>();
  if (live.length === 0) return target;
  const held = new Map<string, string[]>(live.map((m) => [m, []]));
  for (const s of sorted) {
    const owner = current.get(s);
    if (owner !== undefined) held.get(owner)?.push(s);
  }
  const capacity = capacities(live, held, sorted.length);
  // Each member keeps the first of its splits (in split order: deterministic) up to its share.
  for (const m of live) for (const s of held.get(m)!.slice(0, capacity.get(m)!)) target.set(s, m);
  const free = sorted.filter((s) => !target.has(s));
  let i = 0;
  for (const m of live) {
    for (let room = capacity.get(m)! - Math.min(held.get(m)!.length, capacity.get(m)!); room > 0; room--) {
      target.set(free[i++], m);
    }
  }
  return target;
}

/**
 * Each member's fair share: ⌊n/m⌋, and ⌊n/m⌋+1 for n mod m of them — the ones holding the most
 * now (ties: lower id), which makes the moves minimal.
 */
function capacities(live: string[], held: Map<string, string[]>, n: number): Map<string, number> {
  const base = Math.floor(n / live.length);
  const extra = n % live.length;
  const byHeld = [...live].sort((a, b) => held.get(b)!.length - held.get(a)!.length || compare(a, b));
  return new Map(byHeld.map((m, i) => [m, base + (i < extra ? 1 : 0)]));
}

/** Splits whose owner changes from a live member to another (what a rebalance must move). */
export function movedSplits(members: readonly string[], current: Owners, target: ReadonlyMap<string, string>): string[] {
  const live = new Set(members);
  return [...target].filter(([s, m]) => {
    const was = current.get(s);
    return was !== undefined && live.has(was) && was !== m;
  }).map(([s]) => s).sort(compare);
}

/** Code-unit order: the same on every machine (no locale). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
