/**
 * One side of `nsbuild verify`: how one of its two builds differs from a
 * plain build. Its layers, runs, temporaries and build records live in a
 * private store directory, so the two builds share no layer; the base, the
 * sources, references and locks are the store's (inputs, not layers). It may
 * read the sources through directory views (disorderfs mounts), and its
 * clocks may run ahead. Build b, a child nsbuild, gets this as JSON through
 * the internal `nsbuild build --verify-side` option.
 */
import { joinPath as join } from "../util/path.ts";
import type { StoreLayout } from "../store/layout.ts";

export interface BuildSide {
  /** The private store directory: layers/, runs/, tmp/, builds/ go under it. */
  store: string;
  /** Where this build reads the store's sources/ (a view of it), if not there. */
  sources?: string;
  /** A directory source's path → the view this build reads it through. */
  views?: Record<string, string>;
  /** Seconds the monotonic and boot clocks of every step run ahead. */
  clockOffsetSeconds?: number;
}

function isAbsolute(value: unknown): value is string {
  return typeof value === "string" && value.startsWith("/") && !value.includes("\0");
}

/** Parses and checks `--verify-side`'s JSON; throws an Error naming what is wrong. */
export function parseSide(text: string): BuildSide {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`--verify-side is not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("--verify-side must be a JSON object");
  }
  const side = value as Record<string, unknown>;
  for (const key of Object.keys(side)) {
    if (!["store", "sources", "views", "clockOffsetSeconds"].includes(key)) {
      throw new Error(`--verify-side: unknown field "${key}"`);
    }
  }
  if (!isAbsolute(side.store)) throw new Error("--verify-side: store must be an absolute path");
  if (side.sources !== undefined && !isAbsolute(side.sources)) {
    throw new Error("--verify-side: sources must be an absolute path");
  }
  const views: Record<string, string> = {};
  if (side.views !== undefined) {
    if (typeof side.views !== "object" || side.views === null || Array.isArray(side.views)) {
      throw new Error("--verify-side: views must map paths to paths");
    }
    for (const [from, to] of Object.entries(side.views)) {
      if (!isAbsolute(from) || !isAbsolute(to)) {
        throw new Error("--verify-side: views must map absolute paths to absolute paths");
      }
      views[from] = to;
    }
  }
  const offset = side.clockOffsetSeconds;
  if (offset !== undefined && (typeof offset !== "number" || !Number.isSafeInteger(offset))) {
    throw new Error("--verify-side: clockOffsetSeconds must be a whole number");
  }
  return {
    store: side.store,
    ...(side.sources !== undefined ? { sources: side.sources as string } : {}),
    ...(side.views !== undefined ? { views } : {}),
    ...(offset !== undefined ? { clockOffsetSeconds: offset } : {}),
  };
}

/**
 * The layout one side builds with: its own layers, runs, temporaries and
 * build records; the store's bases, references, locks and logs; the sources
 * where the side reads them.
 */
export function sideLayout(store: StoreLayout, side: BuildSide): StoreLayout {
  return {
    ...store,
    root: side.store,
    tmp: join(side.store, "tmp"),
    runs: join(side.store, "runs"),
    layers: join(side.store, "layers"),
    builds: join(side.store, "builds"),
    sources: side.sources ?? store.sources,
  };
}

interface HasPathSources {
  recipe: { sources?: readonly unknown[] };
}

/**
 * The recipe as this side builds it: each directory source with a view is
 * read through it, under the same name in /src. Nothing else changes.
 */
export function sideRecipe<T extends HasPathSources>(loaded: T, side: BuildSide): T {
  const views = side.views ?? {};
  if (Object.keys(views).length === 0 || !loaded.recipe.sources) return loaded;
  const sources = loaded.recipe.sources.map((s) => {
    const source = s as { path?: string; dest?: string };
    if (typeof source.path !== "string" || !(source.path in views)) return s;
    const name = source.dest ?? source.path.split("/").filter(Boolean).pop();
    return { ...source, path: views[source.path], dest: name };
  });
  return { ...loaded, recipe: { ...loaded.recipe, sources } } as T;
}
