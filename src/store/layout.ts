/**
 * Where each kind of entry lives inside the store. Entries are immutable and
 * named by a digest; everything under construction lives in tmp/ until it is
 * renamed into place.
 */
import { joinPath as join } from "../util/path.ts";

export const ENTRY_KINDS = ["bases", "layers", "sources"] as const;
export type EntryKind = typeof ENTRY_KINDS[number];

export interface StoreLayout {
  root: string;
  /** Entries being built; renamed into place when complete. */
  tmp: string;
  /** Per-sandbox scratch directories (overlay upper and work). */
  runs: string;
  /** Lock files, one per thing that must not be built twice at once. */
  locks: string;
  /** Base references (`debian:bookworm`, `tar:…`) → the base they resolved to. */
  refs: string;
  /** Build logs, kept after the build. */
  logs: string;
  /** The last build of each recipe: the entries it uses, which prune keeps. */
  builds: string;
  /** Compiled seccomp programs, named by their policy (sandbox/seccomp.ts). */
  filters: string;
  bases: string;
  layers: string;
  sources: string;
}

export function storeLayout(root: string): StoreLayout {
  return {
    root,
    tmp: join(root, "tmp"),
    runs: join(root, "runs"),
    locks: join(root, "locks"),
    refs: join(root, "refs"),
    logs: join(root, "logs"),
    builds: join(root, "builds"),
    filters: join(root, "filters"),
    bases: join(root, "bases"),
    layers: join(root, "layers"),
    sources: join(root, "sources"),
  };
}

/** The directory of one entry. */
export function entryPath(layout: StoreLayout, kind: EntryKind, digest: string): string {
  if (!/^[0-9a-f]{16,64}$/.test(digest)) throw new Error(`Not an entry digest: "${digest}"`);
  return join(layout[kind], digest);
}

/** Creates the store's directories once; private to the user, like ~/.cache should be. */
export function ensureLayout(layout: StoreLayout): void {
  Deno.mkdirSync(layout.root, { recursive: true, mode: 0o700 });
  for (
    const dir of [layout.tmp, layout.runs, layout.locks, layout.refs, layout.logs, layout.builds]
  ) {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  for (const kind of ENTRY_KINDS) Deno.mkdirSync(layout[kind], { recursive: true, mode: 0o700 });
}
