/** Where nsbuild keeps its store, and the per-run scratch directories in it. */
import { join } from "node:path";

/** $NSBUILD_HOME, else $XDG_CACHE_HOME/nsbuild, else ~/.cache/nsbuild. */
export function storeRoot(env: Record<string, string | undefined>): string {
  if (env.NSBUILD_HOME) return env.NSBUILD_HOME;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "nsbuild");
  if (env.HOME) return join(env.HOME, ".cache", "nsbuild");
  throw new Error("Cannot place the store: set NSBUILD_HOME (or HOME) to a writable directory");
}

export function runsDir(store: string): string {
  return join(store, "runs");
}

/**
 * A fresh run directory with the overlay's upper, work and mount point. The
 * sandbox's monitor removes it when the sandbox ends, even if nsbuild dies.
 */
export function createRunDir(store: string): string {
  const runs = runsDir(store);
  // 0711: mapped root (another host id when root runs nsbuild) must traverse it.
  Deno.mkdirSync(runs, { recursive: true, mode: 0o711 });
  const dir = Deno.makeTempDirSync({ dir: runs, prefix: `${Deno.pid}-` });
  for (const sub of ["upper", "work", "root"]) Deno.mkdirSync(join(dir, sub));
  return dir;
}
