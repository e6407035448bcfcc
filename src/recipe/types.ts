/**
 * What a recipe file's default export is. Recipes import these types only
 * (`import type { Recipe } from ".../mod.ts"`), so a recipe costs nothing
 * to load beyond its own text; everything here is also checked at run time
 * by validateRecipe(), since a recipe is not type-checked when it is built.
 */

/** Handed to a recipe whose default export is a function. */
export interface RecipeContext {
  /** The architecture being built for, as Debian names it: "amd64", "arm64". */
  arch: string;
  /** The running nsbuild's version, "0.1.0". */
  nsbuildVersion: string;
}

/**
 * A Debian suite the host's apt sources serve. The named ones are offered
 * by editors; any suite name is accepted.
 */
export type DebianSuite = "bookworm" | "trixie" | (string & Record<never, never>);

// The base and source shapes are type aliases, not interfaces, so that they
// stay assignable to Record<string, unknown> for code that inspects them
// generically. The `?: never` fields make a mix of two shapes a type error.

/** A minimal Debian root filesystem, bootstrapped from the host's apt sources. */
export type DebianBase = {
  /** The suite, as the host's apt sources name it: "bookworm". */
  debian: DebianSuite;
  /**
   * Packages installed into the base, by name only ("build-essential"):
   * the versions are whatever the suite has, and the build's manifest
   * records them. Order and duplicates do not matter.
   */
  packages?: readonly string[];
  tarball?: never;
  directory?: never;
};

/** A root filesystem from a tarball (plain, gzip, xz, zstd or bzip2). */
export type TarballBase = {
  /** The tarball's path, relative to the recipe file. */
  tarball: string;
  debian?: never;
  packages?: never;
  directory?: never;
};

/** A root filesystem from a directory on the host, copied into the store. */
export type DirectoryBase = {
  /** The directory's path, relative to the recipe file. */
  directory: string;
  debian?: never;
  packages?: never;
  tarball?: never;
};

/** The root filesystem every step starts from. */
export type RecipeBase = DebianBase | TarballBase | DirectoryBase;

/** A file downloaded before the build and checked against its digest. */
export type UrlSource = {
  /** Where to download it from (http or https). */
  url: string;
  /** The file's sha256, 64 lowercase hex digits; a download that differs fails the build. */
  sha256: string;
  /** Its name under /src; by default the URL's last path segment. */
  dest?: string;
  path?: never;
  debian?: never;
  version?: never;
};

/** A file or directory on the host, bound read-only into every step. */
export type PathSource = {
  /** Its path, relative to the recipe file. */
  path: string;
  /** Its name under /src; by default the path's last component. */
  dest?: string;
  url?: never;
  sha256?: never;
  debian?: never;
  version?: never;
};

/** A Debian source package (.dsc and the files it lists), fetched through the host's apt. */
export type DebianSource = {
  /** The source package's name: "hello". */
  debian: string;
  /** Its exact version: "2.10-3". */
  version: string;
  /** Its directory's name under /src; by default the package name. */
  dest?: string;
  url?: never;
  sha256?: never;
  path?: never;
};

/** Something a build reads, seen read-only by every step at /src/<dest>. */
export type RecipeSource = UrlSource | PathSource | DebianSource;

/** One command, run in its own sandbox over the layers of the steps before it. */
export interface RecipeStep {
  /** Unique within the recipe: letters, digits, ".", "_" and "-". Names logs and `nsbuild shell --step`. */
  name: string;
  /**
   * The command: a string is a shell script run by `/bin/sh -ec` (so it
   * stops at the first failing command); an array is the argv, its first
   * element looked up in PATH.
   */
  run: string | readonly string[];
  /** Variables for this step, over the recipe's `env`. */
  env?: Record<string, string>;
  /** The absolute directory the command starts in; default "/build". */
  cwd?: string;
  /** Whether the step may reach the network; default false (only loopback). */
  network?: boolean;
  /**
   * Lets this step use system calls the default seccomp filter denies, by
   * group ("keyring", "kexec", "bpf", "userfaultfd", "perf", "personality",
   * "userns"), for a stated reason; the manifest records both.
   */
  relaxSeccomp?: { groups: readonly string[]; reason: string };
}

/** A package build: a base, its sources, the steps that run over them, and what they leave in /out. */
export interface Recipe {
  /** The package's name: lowercase letters, digits, "+", ".", "_" and "-", starting with a letter or digit. */
  name: string;
  /** The package's version, as the recipe's author writes it: "2.12.1". */
  version: string;
  /** One line about the package. */
  description?: string;
  /** The root filesystem the steps run in. */
  base: RecipeBase;
  /** What the steps read, each at /src/<dest>; none by default. */
  sources?: readonly RecipeSource[];
  /** Variables for every step, over nsbuild's own (PATH, HOME, LANG, TZ, SOURCE_DATE_EPOCH). */
  env?: Record<string, string>;
  /** The build, in order; at least one. */
  steps: readonly RecipeStep[];
  /** The paths under /out that the build hands back; default ["/out"], all of it. */
  outputs?: readonly string[];
  /**
   * SOURCE_DATE_EPOCH for every step: the time, in seconds since 1970,
   * that reproducible tools write instead of "now". Default 315532800
   * (1980-01-01T00:00:00Z), the earliest time a ZIP archive can hold.
   */
  sourceDateEpoch?: number;
}

/** A recipe computed from the context, for recipes that differ by architecture. */
export type RecipeFunction = (ctx: RecipeContext) => Recipe | Promise<Recipe>;

/** What a recipe file may export as its default. */
export type RecipeExport = Recipe | RecipeFunction;

/** Where a step starts when it names no `cwd`. */
export const DEFAULT_STEP_CWD = "/build";

/** What a build hands back when the recipe names no `outputs`. */
export const DEFAULT_OUTPUTS: readonly string[] = Object.freeze(["/out"]);

/**
 * ZIP archives cannot record times before 1980, so tools that pack them
 * (Python's zipfile, jar) fail or clamp at an earlier epoch; and a 0 reads
 * as "unset" to code that tests the variable for truth. Nix chose the same
 * value for the same reasons.
 */
export const DEFAULT_SOURCE_DATE_EPOCH = 315532800;
