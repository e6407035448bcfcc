/**
 * Advisory file locks (flock) between nsbuild processes. The kernel drops a
 * lock when its holder dies, so a crashed nsbuild never blocks the next one.
 */
import { joinPath as join } from "../util/path.ts";

export interface HeldLock {
  release(): void;
}

/**
 * Takes the exclusive lock `name` under `locksDir`, waiting for its holder if
 * there is one; `onWait` is called once, before waiting, so the user sees why
 * nothing happens.
 */
export async function acquireLock(
  locksDir: string,
  name: string,
  onWait?: () => void,
  exclusive = true,
): Promise<HeldLock> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`Bad lock name: "${name}"`);
  const path = join(locksDir, `${name}.lock`);
  let waited = false;
  for (;;) {
    const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    try {
      if (!(await file.tryLock(exclusive))) {
        if (!waited) onWait?.();
        waited = true;
        await file.lock(exclusive);
      }
      // Whoever removes a lock file does so while holding it: if ours was
      // removed meanwhile, our lock guards nothing and we start again.
      if (sameFile(file.statSync(), path)) return lockOf(file);
    } catch (e) {
      file.close();
      throw e;
    }
    file.close();
  }
}

function sameFile(info: Deno.FileInfo, path: string): boolean {
  try {
    const now = Deno.statSync(path);
    return now.ino === info.ino && now.dev === info.dev;
  } catch {
    return false;
  }
}

function lockOf(file: Deno.FsFile): HeldLock {
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      // Closing the descriptor drops the lock.
      file.close();
    },
  };
}

/**
 * The lock at `path` if nobody holds it, else undefined. Whoever gets it may
 * remove the lock file (and what it guards) before releasing it.
 */
export async function takeIfFree(path: string): Promise<HeldLock | undefined> {
  let file;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch {
    return undefined;
  }
  if ((await file.tryLock(true)) && sameFile(file.statSync(), path)) return lockOf(file);
  file.close();
  return undefined;
}
