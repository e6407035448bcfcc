/** A base reference from the command line, resolved (imported if need be) with errors made CLI errors. */
import { CliError } from "./errors.ts";
import type { StoreContext } from "./store_context.ts";
import { hostDebianArch } from "../base/arch.ts";
import { ImportError } from "../base/import.ts";
import { parseBaseRef, RefError } from "../base/ref.ts";
import { resolveBase, type ResolvedBase } from "../base/resolve.ts";
import { acquireLock } from "../store/lock.ts";
import { ensureLayout } from "../store/layout.ts";
import { SandboxError } from "../sandbox/errors.ts";

export type HeldBase = ResolvedBase & { release(): void };

/**
 * Resolves REF and holds the store's shared lock until release(), so that
 * `cache prune` cannot remove the base while it is in use.
 */
export async function resolveBaseRef(
  text: string,
  ctx: StoreContext,
  refresh = false,
): Promise<HeldBase> {
  let ref;
  try {
    ref = parseBaseRef(text);
  } catch (e) {
    if (e instanceof RefError) {
      throw new CliError(e.message, "see `nsbuild help` for base references");
    }
    throw e;
  }
  ensureLayout(ctx.layout);
  const lock = await acquireLock(
    ctx.layout.locks,
    "store",
    () => ctx.progress("waiting for `nsbuild cache prune` to finish"),
    false,
  );
  try {
    const resolved = await resolveBase(ref, {
      layout: ctx.layout,
      executor: ctx.executor,
      arch: hostDebianArch(),
      progress: ctx.progress,
      refresh,
    });
    return { ...resolved, release: () => lock.release() };
  } catch (e) {
    lock.release();
    if (e instanceof ImportError) throw new CliError(e.message, e.hint, 1);
    if (e instanceof SandboxError) throw new CliError(`importing ${text}: ${e.message}`, "", 125);
    throw e;
  }
}
