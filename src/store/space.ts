/**
 * A full disk, said plainly: nsbuild's own writes (a step's log, an entry's
 * metadata, a temporary) fail with ENOSPC, which Deno reports as "No space
 * left on device (os error 28)", with the path only sometimes. The command
 * line turns that into one line naming the store and what frees space.
 */

/** The ENOSPC error in e or in its chain of causes, if there is one. */
export function noSpaceError(e: unknown): Error | undefined {
  const seen = new Set<unknown>();
  for (let at = e; at instanceof Error && !seen.has(at); at = at.cause) {
    seen.add(at);
    if ((at as { code?: unknown }).code === "ENOSPC" || /\(os error 28\)/.test(at.message)) {
      return at;
    }
  }
  return undefined;
}

/** The path Deno names in a file system error ("...: writefile '/x/y'"), if any. */
function pathIn(message: string): string | undefined {
  return /: [a-z_]+ '([^']+)'(?: -> '[^']+')?$/.exec(message)?.[1];
}

export interface NoSpaceReport {
  message: string;
  hint: string;
}

/**
 * What to tell the user about a full disk. `store` is the store's root (or
 * undefined when it cannot be placed); the error names a path outside it
 * when the full disk is elsewhere (the output directory, say).
 */
export function noSpaceReport(error: Error, store: string | undefined): NoSpaceReport {
  const path = pathIn(error.message);
  const inStore = store !== undefined &&
    (path === undefined || path === store || path.startsWith(`${store.replace(/\/+$/, "")}/`));
  if (inStore) {
    return {
      message: `the disk is full: no space left on device for the store at ${store}` +
        (path && path !== store ? ` (writing ${path})` : ""),
      hint: "free space there (`nsbuild cache prune` removes unused entries), or set " +
        "NSBUILD_HOME to a store on a larger disk; what was being built was not kept",
    };
  }
  return {
    message: `the disk is full: no space left on device${path ? ` for ${path}` : ""}` +
      (store ? ` (the store is at ${store})` : ""),
    hint: "free space on that disk and run the command again",
  };
}
