/**
 * Removing store trees. Files a build made as another id inside the sandbox
 * belong to subordinate ids on the host, so the user cannot delete them
 * directly: what the host refuses is removed from inside a user namespace,
 * as root there, like `podman unshare rm`.
 */
import type { Executor } from "../sandbox/executor.ts";
import { runHostTool } from "../sandbox/host_tools.ts";

export class RemoveError extends Error {
  override name = "RemoveError";
}

function tryHostRemove(path: string): boolean {
  try {
    Deno.removeSync(path, { recursive: true });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    if (e instanceof Deno.errors.PermissionDenied) return false;
    throw e;
  }
}

/**
 * Removes each tree entirely. Each must lie inside `store`: the sandbox that
 * finishes the job sees the store and nothing else of the host's files.
 */
export async function removeTrees(
  store: string,
  paths: string[],
  executor: () => Executor,
): Promise<void> {
  const left = paths.filter((path) => !tryHostRemove(path));
  if (left.length === 0) return;
  for (const path of left) {
    if (!path.startsWith(`${store}/`)) {
      throw new RemoveError(`Refusing to remove ${path}: not in the store ${store}`);
    }
  }
  // Directories the host user may not even list (mode 000 work dirs) are
  // still open to root of the user namespace.
  const result = await runHostTool({
    store,
    executor: executor(),
    argv: [
      "rm",
      "-rf",
      "--one-file-system",
      "--",
      ...left.map((p) => `/store${p.slice(store.length)}`),
    ],
    binds: [{ source: store, target: "/store", readonly: false, directory: true }],
  });
  if (result.error || result.status !== 0) {
    const why = result.error?.message ?? `rm exited with status ${result.status}`;
    throw new RemoveError(
      `Could not remove ${left.join(", ")} from inside the user namespace: ${why}`,
    );
  }
  for (const path of left) {
    try {
      Deno.lstatSync(path);
      throw new RemoveError(`${path} is still there after removal (owned by an unmapped id?)`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
