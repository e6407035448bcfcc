/**
 * Debian bases: the `debian:SUITE[+PKG,...]` reference, the host's apt
 * sources they are bootstrapped from, the mmdebstrap command line, and the
 * list of packages a bootstrapped root ends up with.
 */
import { createHash } from "node:crypto";
import type { InstalledPackage } from "./entry.ts";

export type { InstalledPackage };

export class RefError extends Error {
  override name = "RefError";
}

/** The host has no apt source to bootstrap from or fetch through. */
export class NoAptSourcesError extends Error {
  override name = "NoAptSourcesError";
  constructor(message: string, readonly hint = "") {
    super(message);
  }
}

export interface DebianRef {
  suite: string;
  /** Sorted, without duplicates. */
  packages: string[];
}

const SUITE = /^[a-z0-9][a-z0-9.-]*$/;
// Debian policy 5.6.1: at least two characters, starting alphanumeric.
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;

export function isDebianPackageName(name: string): boolean {
  return PACKAGE.test(name);
}

export function parseDebianRef(text: string): DebianRef {
  const fail = (what: string, example = "debian:bookworm+curl,ca-certificates") =>
    new RefError(`base "${text}": ${what} (for example ${example})`);
  if (!text.startsWith("debian:")) throw fail(`not a Debian base`, "debian:bookworm");
  const rest = text.slice("debian:".length);
  const plus = rest.indexOf("+");
  const suite = plus < 0 ? rest : rest.slice(0, plus);
  if (!suite) throw fail(`no suite after "debian:"`, "debian:bookworm");
  if (!SUITE.test(suite)) {
    throw fail(
      `"${suite}" is not a suite name: lowercase letters, digits, "-" and "."`,
      "debian:bookworm",
    );
  }
  if (plus < 0) return { suite, packages: [] };
  const list = rest.slice(plus + 1);
  if (!list) throw fail(`no packages after "+"`);
  const packages = new Set<string>();
  for (const name of list.split(",")) {
    if (!name) throw fail(`an empty package name in "${list}"`);
    if (name.includes("=")) {
      throw fail(`"${name}": packages are given by name only, without a version`);
    }
    if (!PACKAGE.test(name)) {
      throw fail(
        `"${name}" is not a Debian package name: two or more of lowercase letters, ` +
          `digits, "+", "-" and ".", starting with a letter or digit`,
      );
    }
    packages.add(name);
  }
  return { suite, packages: [...packages].sort() };
}

export interface AptSourceFile {
  /** Where it is read from (under the root given to hostAptSources). */
  path: string;
  /** Where it is on the system it belongs to: /etc/apt/sources.list.d/debian.sources. */
  name: string;
  /** One-line entries (`deb URI SUITE COMPONENT...`) or deb822 stanzas. */
  format: "list" | "sources";
  text: string;
}

// apt skips names with other characters in sources.list.d (see sources.list(5)).
const PART_NAME = /^[A-Za-z0-9_.-]+\.(list|sources)$/;

function hasEntries(text: string): boolean {
  return text.split("\n").some((line) => {
    const trimmed = line.trim();
    return trimmed !== "" && !trimmed.startsWith("#");
  });
}

function readSourceFile(path: string): string | undefined {
  try {
    if (!Deno.statSync(path).isFile) return undefined;
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * The apt source files of the system at `root`, in the order apt reads
 * them: sources.list, then sources.list.d/ by name. Files without an entry
 * are left out (Debian images ship a sources.list that is one comment), and
 * so are names apt ignores, such as `x.list.disabled`.
 */
export function hostAptSources(root = "/"): AptSourceFile[] {
  const prefix = root.replace(/\/+$/, "");
  const found: AptSourceFile[] = [];
  const add = (name: string, format: "list" | "sources") => {
    const path = `${prefix}${name}`;
    const text = readSourceFile(path);
    if (text !== undefined && hasEntries(text)) found.push({ path, name, format, text });
  };
  add("/etc/apt/sources.list", "list");
  let parts: string[] = [];
  try {
    parts = [...Deno.readDirSync(`${prefix}/etc/apt/sources.list.d`)]
      .map((entry) => entry.name)
      .filter((name) => PART_NAME.test(name))
      .sort();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const part of parts) {
    add(`/etc/apt/sources.list.d/${part}`, part.endsWith(".sources") ? "sources" : "list");
  }
  return found;
}

/** Changes when a source file is added, removed, renamed or edited. */
export function aptSourcesFingerprint(files: readonly AptSourceFile[]): string {
  const hash = createHash("sha256");
  for (const file of files) {
    // Lengths first, so no two different lists hash the same bytes.
    hash.update(`${file.name.length}:${file.name}\0${file.text.length}:${file.text}\0`);
  }
  return hash.digest("hex");
}

export interface MmdebstrapPlan {
  suite: string;
  packages: readonly string[];
  /** From hostAptSources(): each is given to mmdebstrap as a mirror. */
  sourceFiles: readonly Pick<AptSourceFile, "path">[];
  /** Debian architecture; mmdebstrap's default is the host's. */
  arch?: string;
}

/**
 * The mmdebstrap command writing the root filesystem as a tar stream on
 * stdout. argv[0] is the bare program name, for the caller to resolve.
 */
export function planMmdebstrap(plan: MmdebstrapPlan): string[] {
  if (plan.sourceFiles.length === 0) {
    throw new NoAptSourcesError(
      `debian:${plan.suite}: the host has no apt sources to bootstrap from`,
      "add one to /etc/apt/sources.list.d/ (a .sources or .list file)",
    );
  }
  const argv = [
    "mmdebstrap",
    // In a user namespace: no root needed, and the same mode whoever runs it.
    "--mode=unshare",
    // Essential and required packages plus apt: the smallest system apt can extend.
    "--variant=minbase",
    "--format=tar",
  ];
  if (plan.arch) argv.push(`--architectures=${plan.arch}`);
  if (plan.packages.length) argv.push(`--include=${plan.packages.join(",")}`);
  argv.push(
    // mmdebstrap copies the host's /etc/hostname in: the host's name does not
    // belong in a base, and would make bases from two hosts differ. (It also
    // copies /etc/resolv.conf, which is kept: a sandbox with network needs one.)
    `--customize-hook=echo nsbuild > "$1/etc/hostname"`,
    "--",
    plan.suite,
    // The tar stream on stdout.
    "-",
    // A file as a mirror: its entries are used as they are, so the base comes
    // from the same places, with the same keys, as the host's own packages.
    ...plan.sourceFiles.map((file) => file.path),
  );
  return argv;
}

/**
 * The environment for planMmdebstrap's command. With SOURCE_DATE_EPOCH set,
 * mmdebstrap clamps every mtime to it and drops logs and caches that differ
 * between runs, so that two bootstraps of the same packages give the same
 * tar stream, and so the same store entry. The start of the current UTC day
 * makes runs on one day agree while staying later than the files' own
 * mtimes from the packages, which are kept (an older epoch would rewrite
 * them, and e.g. Python would then take its compiled .pyc files as stale).
 */
export function mmdebstrapEnv(now: Date = new Date()): Record<string, string> {
  const day = 86_400;
  const epoch = Math.floor(now.getTime() / 1000 / day) * day;
  return { SOURCE_DATE_EPOCH: String(epoch) };
}

/**
 * The packages installed in a root filesystem, from its
 * /var/lib/dpkg/status: sorted by name, then architecture.
 */
export function parseDpkgStatus(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const paragraph of text.replace(/\r\n/g, "\n").split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    for (const line of paragraph.split("\n")) {
      // Continuation lines (descriptions, conffiles) carry nothing wanted here.
      if (line === "" || line.startsWith(" ") || line.startsWith("\t")) continue;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    const name = fields.get("package");
    const [want, flag, state] = fields.get("status")?.split(/\s+/) ?? [];
    // A held package ("hold ok installed") is as installed as any other.
    const installed = (want === "install" || want === "hold") && flag === "ok" &&
      state === "installed";
    if (!name || !installed) continue;
    out.push({
      name,
      version: fields.get("version") ?? "",
      architecture: fields.get("architecture") ?? "",
    });
  }
  return out.sort((a, b) => compare(a.name, b.name) || compare(a.architecture, b.architecture));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
