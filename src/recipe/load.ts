/**
 * Loading a recipe: the file is imported as a module (a recipe is code,
 * run with nsbuild's own permissions, like a Makefile), its default export
 * checked by validateRecipe(), then completed: relative paths made
 * absolute against the recipe's directory, which is the only place they
 * mean anything, and every default filled in, so what is built, cached and
 * written in the manifest is stated once, here.
 */
import { absolutePath } from "../util/path.ts";
import {
  DEFAULT_OUTPUTS,
  DEFAULT_SOURCE_DATE_EPOCH,
  DEFAULT_STEP_CWD,
  type Recipe,
  type RecipeBase,
  type RecipeContext,
  type RecipeSource,
  type RecipeStep,
} from "./types.ts";
import {
  defaultSourceDest,
  describe,
  RecipeError,
  type RecipeProblem,
  validateRecipe,
} from "./validate.ts";

/** A source with its name under /src settled and, for a local path, the path absolute. */
export type ResolvedSource = RecipeSource & { dest: string };

/** A step with every default in place. */
export interface ResolvedStep extends RecipeStep {
  /** The step's own variables only; the recipe's `env` still goes under them. */
  env: Record<string, string>;
  /** The step's `cwd`, or "/build". */
  cwd: string;
  /** The step's `network`, or false. */
  network: boolean;
}

/** A recipe with absolute paths and every default in place. */
export interface ResolvedRecipe extends Recipe {
  /** The recipe's sources, or none. */
  sources: readonly ResolvedSource[];
  /** The recipe's variables, or none. */
  env: Record<string, string>;
  /** The recipe's steps, each completed. */
  steps: readonly ResolvedStep[];
  /** The recipe's outputs, normalized, or ["/out"]. */
  outputs: readonly string[];
  /** The recipe's sourceDateEpoch, or DEFAULT_SOURCE_DATE_EPOCH (1980-01-01). */
  sourceDateEpoch: number;
}

/** What loadRecipe() hands back. */
export interface LoadedRecipe {
  /** The recipe, checked, with absolute paths and its defaults filled in. */
  recipe: ResolvedRecipe;
  /** The recipe file's absolute path. */
  file: string;
  /** The recipe file's text, as it was read for this load (for the manifest's digest). */
  text: string;
}

const MODULE_EXTENSIONS = /\.(?:ts|mts|js|mjs)$/;

/** The path as messages show it: relative when under the working directory. */
function displayPath(abs: string): string {
  let cwd: string;
  try {
    cwd = Deno.cwd();
  } catch {
    return abs;
  }
  const prefix = cwd.endsWith("/") ? cwd : `${cwd}/`;
  return abs.startsWith(prefix) ? abs.slice(prefix.length) : abs;
}

function fileUrl(abs: string): string {
  return `file://${abs.split("/").map(encodeURIComponent).join("/")}`;
}

function fromFileUrl(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return url;
  }
}

function dirnameOf(abs: string): string {
  return abs.slice(0, abs.lastIndexOf("/")) || "/";
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const LOCATION = /(file:\/\/[^\s()"'`]+):(\d+):(\d+)/;
const THIS_MODULE = import.meta.url;

/**
 * One line for an error thrown while importing or calling the recipe:
 * Deno's own messages span lines (a code frame, a hint) and name files by
 * URL; the stack is nsbuild's business, not the recipe author's. Keeps the
 * headline, where it happened, and Deno's hint if it gave one.
 */
export function describeThrown(e: unknown): { message: string; hint: string } {
  if (!(e instanceof Error)) {
    let text: string;
    try {
      text = String(e);
    } catch {
      text = describe(e);
    }
    return { message: `threw ${text}`, hint: "" };
  }
  const lines = String(e.message).replace(ANSI, "").split("\n");
  let headline = lines[0]!.trim();
  let where: string | undefined;
  const inHeadline = headline.match(new RegExp(` at ${LOCATION.source}$`));
  if (inHeadline) {
    headline = headline.slice(0, inHeadline.index).trim();
    where = `${displayPath(fromFileUrl(inHeadline[1]!))}:${inHeadline[2]}:${inHeadline[3]}`;
  }
  // Deno's advice for a bare import (`deno add`) does not apply: nsbuild
  // reads no deno.json or import map on a recipe's behalf.
  let hint =
    /^(?:Import ".*" not a dependency|Relative import path ".*" not prefixed)/.test(headline)
      ? "a recipe imports other files by relative path, like ./lib.ts"
      : "";
  for (const line of lines.slice(1)) {
    const trimmed = line.trim();
    if (trimmed.startsWith("hint:") && !hint) hint = trimmed.slice("hint:".length).trim();
    const at = trimmed.match(new RegExp(`^at ${LOCATION.source}$`));
    if (at && !where) where = `${displayPath(fromFileUrl(at[1]!))}:${at[2]}:${at[3]}`;
  }
  if (!where) {
    // An error the recipe threw: its first frame outside this module is where.
    for (const line of String(e.stack ?? "").replace(ANSI, "").split("\n").slice(1)) {
      const at = line.match(LOCATION);
      if (at && at[1] !== THIS_MODULE) {
        where = `${displayPath(fromFileUrl(at[1]!))}:${at[2]}:${at[3]}`;
        break;
      }
    }
  }
  headline = headline.replace(/file:\/\/[^\s"'`]+/g, (url) => displayPath(fromFileUrl(url)));
  // Deno reports unloadable modules as TypeErrors whose message says what went wrong.
  const loadError = (e as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND";
  if (!loadError && !headline.startsWith(`${e.name}:`)) headline = `${e.name}: ${headline}`;
  return { message: where ? `${headline} (at ${where})` : headline, hint };
}

function fail(label: string, message: string, hint = ""): RecipeError {
  return new RecipeError(label, [{ path: "", message }], hint);
}

async function statOrFail(abs: string, label: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(abs);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw fail(label, "no such recipe file", `looked for ${abs}`);
    }
    throw fail(label, `cannot read it: ${(e as Error).message}`);
  }
  if (info.isDirectory) {
    throw fail(label, "is a directory, not a recipe", "give the recipe's .ts file");
  }
  if (!MODULE_EXTENSIONS.test(abs)) {
    throw fail(
      label,
      "a recipe is a TypeScript module, and its name must end in .ts (or .mts, .js, .mjs)",
    );
  }
}

async function recipeValue(
  namespace: Record<string, unknown>,
  label: string,
  ctx: RecipeContext,
): Promise<unknown> {
  if (!("default" in namespace)) {
    const named = Object.keys(namespace);
    throw fail(
      label,
      "no default export; the recipe is the module's default export",
      named.length
        ? `it exports ${named.join(", ")}; end it with \`export default ${named[0]};\``
        : "end it with `export default { ... } satisfies Recipe;`",
    );
  }
  const value = namespace.default;
  if (typeof value === "function") {
    let result: unknown;
    try {
      result = await value(Object.freeze({ ...ctx }));
    } catch (e) {
      const { message, hint } = describeThrown(e);
      throw fail(label, `its default export, a function, failed: ${message}`, hint);
    }
    if (typeof result !== "object" || result === null || Array.isArray(result)) {
      throw fail(
        label,
        `its default export, a function, returned ${describe(result)}; expected a recipe object`,
      );
    }
    return result;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail(
      label,
      `its default export is ${describe(value)}; expected a recipe object, ` +
        "or a function of the build's context returning one",
    );
  }
  return value;
}

function resolveSource(source: RecipeSource, dir: string): ResolvedSource {
  // validateRecipe() refused every source without a name to give it.
  const dest = source.dest ?? defaultSourceDest(source)!;
  if ("path" in source && source.path !== undefined) {
    return { path: absolutePath(source.path, dir), dest };
  }
  return { ...source, dest } as ResolvedSource;
}

function resolveBase(base: RecipeBase, dir: string): RecipeBase {
  if ("tarball" in base && base.tarball !== undefined) {
    return { tarball: absolutePath(base.tarball, dir) };
  }
  if ("directory" in base && base.directory !== undefined) {
    return { directory: absolutePath(base.directory, dir) };
  }
  return base;
}

/** Absolute paths and defaults, for a recipe validateRecipe() accepted. */
export function resolveRecipe(recipe: Recipe, dir: string): ResolvedRecipe {
  const resolved: ResolvedRecipe = {
    name: recipe.name,
    version: recipe.version,
    base: resolveBase(recipe.base, dir),
    sources: (recipe.sources ?? []).map((s) => resolveSource(s, dir)),
    env: { ...recipe.env },
    steps: recipe.steps.map((step) => ({
      name: step.name,
      run: typeof step.run === "string" ? step.run : [...step.run],
      env: { ...step.env },
      cwd: step.cwd ?? DEFAULT_STEP_CWD,
      network: step.network ?? false,
    })),
    outputs: [...(recipe.outputs ?? DEFAULT_OUTPUTS)],
    sourceDateEpoch: recipe.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH,
  };
  if (recipe.description !== undefined) resolved.description = recipe.description;
  return resolved;
}

/** Local files the recipe names must be there now, or the build would fail later, further from the cause. */
async function checkLocalPaths(recipe: ResolvedRecipe, given: Recipe): Promise<RecipeProblem[]> {
  const problems: RecipeProblem[] = [];
  const kind = async (path: string) => {
    try {
      return (await Deno.stat(path)).isDirectory ? "directory" : "file";
    } catch (e) {
      return e instanceof Deno.errors.NotFound ? "missing" : (e as Error).message;
    }
  };
  const check = async (field: string, written: string, path: string, want?: string) => {
    const found = await kind(path);
    const shown = written === path ? path : `${written}, that is ${path}`;
    if (found === "missing") {
      problems.push({
        path: field,
        message: `${shown} does not exist (paths are relative to the recipe)`,
      });
    } else if (found !== "file" && found !== "directory") {
      problems.push({ path: field, message: `cannot read ${shown}: ${found}` });
    } else if (want && found !== want) {
      problems.push({ path: field, message: `${shown} is a ${found}, not a ${want}` });
    }
  };
  const base = recipe.base;
  if ("tarball" in base && base.tarball !== undefined) {
    await check("base.tarball", (given.base as { tarball: string }).tarball, base.tarball, "file");
  } else if ("directory" in base && base.directory !== undefined) {
    const written = (given.base as { directory: string }).directory;
    await check("base.directory", written, base.directory, "directory");
  }
  for (const [i, source] of recipe.sources.entries()) {
    if ("path" in source && source.path !== undefined) {
      const written = (given.sources![i] as { path: string }).path;
      await check(`sources[${i}].path`, written, source.path);
    }
  }
  return problems;
}

/**
 * Imports the recipe at `path` (relative to the working directory), checks
 * it, and completes it. Messages name the file as given relative to the
 * working directory. A module is imported once per process: loading the
 * same file again returns what its first import exported.
 */
export async function loadRecipe(path: string, ctx: RecipeContext): Promise<LoadedRecipe> {
  const file = absolutePath(path);
  const label = displayPath(file);
  await statOrFail(file, label);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw fail(label, `cannot read it: ${(e as Error).message}`);
  }
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(fileUrl(file));
  } catch (e) {
    const { message, hint } = describeThrown(e);
    throw fail(label, `importing it failed: ${message}`, hint);
  }
  const value = await recipeValue(namespace, label, ctx);
  const given = validateRecipe(value, label);
  const recipe = resolveRecipe(given, dirnameOf(file));
  const problems = await checkLocalPaths(recipe, given);
  if (problems.length) throw new RecipeError(label, problems);
  return { recipe, file, text };
}
