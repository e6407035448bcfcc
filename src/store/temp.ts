/**
 * Temporary directories inside the store, where entries are built before
 * they are renamed into place. Each carries a lock held by its builder: a
 * temporary whose lock nobody holds was left by a process that died, and
 * prune removes it.
 */
import { joinPath as join } from "../util/path.ts";
import { acquireLock, type HeldLock, takeIfFree } from "./lock.ts";

export interface StoreTemp {
  /** The directory to build in. */
  dir: string;
  name: string;
  lock: HeldLock;
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A fresh temporary for an entry of `kind`, locked by this process. */
export async function createTemp(tmpDir: string, kind: string): Promise<StoreTemp> {
  const name = `${kind}-${Deno.pid}-${randomSuffix()}`;
  // The lock file sits beside the directory, so removing the directory
  // (possibly from inside a user namespace) never races with the lock.
  const lock = await acquireLock(tmpDir, name);
  const dir = join(tmpDir, name);
  Deno.mkdirSync(dir, { mode: 0o755 });
  return { dir, name, lock };
}

export interface AbandonedTemp {
  /** The directory (may be missing when only the lock file was left). */
  dir: string;
  /** Held while the caller removes it; release afterwards. */
  lock: HeldLock;
}

/**
 * Temporaries in `tmpDir` that no living process is building, each locked
 * for the caller, who removes the directory and then calls removeTemp().
 */
export async function abandonedTemps(tmpDir: string): Promise<AbandonedTemp[]> {
  const names = new Set<string>();
  try {
    for (const entry of Deno.readDirSync(tmpDir)) names.add(entry.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const abandoned: AbandonedTemp[] = [];
  for (const name of [...names].sort()) {
    const base = name.endsWith(".lock") ? name.slice(0, -".lock".length) : name;
    if (base !== name && names.has(base)) continue; // handled with its directory
    const lockPath = join(tmpDir, `${base}.lock`);
    if (!names.has(`${base}.lock`)) {
      // A directory without a lock file: the lock was never made (a crash
      // between the two) or is already gone; take a fresh one to claim it.
      const lock = await acquireLockAt(lockPath);
      if (lock) abandoned.push({ dir: join(tmpDir, base), lock });
      continue;
    }
    const lock = await takeIfFree(lockPath);
    if (lock) abandoned.push({ dir: join(tmpDir, base), lock });
  }
  return abandoned;
}

async function acquireLockAt(path: string): Promise<HeldLock | undefined> {
  try {
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    file.close();
  } catch {
    return undefined; // somebody else made it just now: leave it to them
  }
  return await takeIfFree(path);
}

/** Removes a temporary's lock file (its directory is gone or was renamed) and releases it. */
export function finishTemp(dir: string, lock: HeldLock): void {
  try {
    Deno.removeSync(`${dir}.lock`);
  } catch {
    // Already gone.
  }
  lock.release();
}
