/** Where nsbuild keeps its store, and the per-run scratch directories in it. */
import { joinPath as join } from "../util/path.ts";

/** $NSBUILD_HOME, else $XDG_CACHE_HOME/nsbuild, else ~/.cache/nsbuild. */
export function storeRoot(env: Record<string, string | undefined>): string {
  if (env.NSBUILD_HOME) return env.NSBUILD_HOME;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "nsbuild");
  if (env.HOME) return join(env.HOME, ".cache", "nsbuild");
  throw new Error("Cannot place the store: set NSBUILD_HOME (or HOME) to a writable directory");
}

/**
 * The variables storeRoot() reads, from this process: cheaper than
 * Deno.env.toObject(), which costs a cold `nsbuild run` about 1 ms.
 */
export function storeEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of ["NSBUILD_HOME", "XDG_CACHE_HOME", "HOME"]) env[name] = Deno.env.get(name);
  return env;
}

export function runsDir(store: string): string {
  return join(store, "runs");
}

/**
 * A fresh, empty run directory. The sandbox's init creates the overlay's
 * upper, work and mount point inside it (as mapped root, so their owner is
 * right even when root runs nsbuild), and its monitor removes it when the
 * sandbox ends, even if nsbuild dies.
 */
export function createRunDir(store: string, owner?: { uid: number; gid: number }): string {
  const runs = runsDir(store);
  let dir: string;
  try {
    dir = Deno.makeTempDirSync({ dir: runs, prefix: `${Deno.pid}-` });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    Deno.mkdirSync(runs, { recursive: true, mode: 0o700 });
    dir = Deno.makeTempDirSync({ dir: runs, prefix: `${Deno.pid}-` });
  }
  if (owner) {
    // Root runs nsbuild: mapped root, another host id, removes the run directory.
    Deno.chownSync(runs, owner.uid, owner.gid);
    Deno.chownSync(dir, owner.uid, owner.gid);
  }
  return dir;
}
