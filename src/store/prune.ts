/**
 * `nsbuild cache prune`: which roots and entries go (a pure decision over an
 * inventory), and removing them so that no reader ever sees half an entry:
 * each is renamed into tmp/ first, then removed, from inside a user
 * namespace where the host refuses.
 */
import { joinPath as join } from "../util/path.ts";
import type { Executor } from "../sandbox/executor.ts";
import { type Inventory, type InventoryEntry, reachable, type StoreRoot } from "./inventory.ts";
import type { StoreLayout } from "./layout.ts";
import { acquireLock } from "./lock.ts";
import { removeTrees } from "./remove.ts";
import { abandonedTemps, finishTemp } from "./temp.ts";

export interface PruneOptions {
  /** Remove every entry and root. */
  all: boolean;
  /** Remove what was last used longer ago than this many milliseconds. */
  olderThanMs?: number;
  now: Date;
}

export interface PrunePlan {
  roots: StoreRoot[];
  entries: InventoryEntry[];
}

export function planPrune(inventory: Inventory, options: PruneOptions): PrunePlan {
  if (options.all) return { roots: inventory.roots, entries: inventory.entries };
  const cutoff = options.olderThanMs === undefined
    ? undefined
    : options.now.getTime() - options.olderThanMs;
  const old = (d: Date) => cutoff !== undefined && d.getTime() < cutoff;
  const present = new Set(inventory.entries.map((e) => `${e.kind}/${e.digest}`));
  const oldEntries = new Set(
    inventory.entries.filter((e) => old(e.lastUsed)).map((e) => `${e.kind}/${e.digest}`),
  );
  // A root goes when it is old, or needs an entry that is gone or going.
  const keptRoots = inventory.roots.filter((root) =>
    !old(root.lastUsed) &&
    root.needs.every((n) =>
      present.has(`${n.kind}/${n.digest}`) && !oldEntries.has(`${n.kind}/${n.digest}`)
    )
  );
  const kept = reachable(inventory, keptRoots);
  return {
    roots: inventory.roots.filter((r) => !keptRoots.includes(r)),
    entries: inventory.entries.filter((e) => !kept.has(`${e.kind}/${e.digest}`)),
  };
}

/** Parses "30d", "12h", "90m", "45s", "2w" into milliseconds. */
export function parseAge(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[match[2] as "s"];
  return Number(match[1]) * unit;
}

export interface PruneReport {
  roots: string[];
  entries: { kind: string; digest: string; what: string; bytes: number }[];
  temporaries: string[];
  runs: string[];
  bytes: number;
}

function staleRuns(layout: StoreLayout): string[] {
  const stale: string[] = [];
  try {
    for (const entry of Deno.readDirSync(layout.runs)) {
      const pid = Number(entry.name.split("-")[0]);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try {
        Deno.statSync(`/proc/${pid}`);
      } catch {
        // Its nsbuild is gone, and with it the monitor that would remove it.
        stale.push(join(layout.runs, entry.name));
      }
    }
  } catch {
    // No runs yet.
  }
  return stale;
}

/**
 * Carries out a plan under the store's exclusive lock: builds and imports
 * hold it shared, so nothing in use disappears.
 */
export async function prune(
  layout: StoreLayout,
  plan: (inventory: Inventory) => PrunePlan,
  readInventory: () => Inventory,
  executor: () => Executor,
  options: { dryRun: boolean; onWait?: () => void },
): Promise<PruneReport> {
  try {
    Deno.statSync(layout.locks);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    // No store yet (or never used): nothing to prune, and nothing to create.
    return { roots: [], entries: [], temporaries: [], runs: [], bytes: 0 };
  }
  const lock = await acquireLock(layout.locks, "store", options.onWait);
  try {
    const decided = plan(readInventory());
    const temps = options.dryRun ? [] : await abandonedTemps(layout.tmp);
    const runs = staleRuns(layout);
    const report: PruneReport = {
      roots: decided.roots.map((r) => r.name),
      entries: decided.entries.map((e) => ({
        kind: e.kind,
        digest: e.digest,
        what: e.what,
        bytes: e.bytes,
      })),
      temporaries: temps.map((t) => t.dir),
      runs,
      bytes: decided.entries.reduce((n, e) => n + e.bytes, 0),
    };
    if (options.dryRun) return report;
    for (const root of decided.roots) {
      try {
        Deno.removeSync(root.file);
      } catch {
        // Already gone.
      }
    }
    // Out of sight first: a reader finds a whole entry or none.
    const doomed: string[] = [];
    for (const entry of decided.entries) {
      const aside = join(layout.tmp, `prune-${Deno.pid}-${entry.kind}-${entry.digest}`);
      Deno.renameSync(entry.dir, aside);
      doomed.push(aside);
    }
    const trees = [...doomed, ...temps.map((t) => t.dir), ...runs];
    if (trees.length) await removeTrees(layout.root, trees, executor);
    for (const temp of temps) finishTemp(temp.dir, temp.lock);
    return report;
  } finally {
    lock.release();
  }
}
