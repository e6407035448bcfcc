/**
 * Debian source packages, fetched through the host's apt configuration
 * (its sources, keys, proxies) as whoever runs nsbuild, without touching the
 * host's apt state: lists and caches live in a private directory, and the
 * host's source files are read as deb-src entries from there.
 *
 * apt checks each downloaded file against the signed Sources index; the
 * digests returned here are what a recipe's record keeps.
 */
import { createHash } from "node:crypto";
import { joinPath as join } from "../util/path.ts";
import { type AptSourceFile, hostAptSources, isDebianPackageName } from "../base/debian.ts";

export class AptSourceError extends Error {
  override name = "AptSourceError";
  constructor(
    message: string,
    readonly hint: string,
    readonly pkg: string,
    readonly version: string,
    /** The last lines apt printed. */
    readonly lines: string[] = [],
  ) {
    super(message);
  }
}

/** The one-line entries of a sources.list as deb-src entries. */
export function debSrcList(text: string): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const rewritten = line.replace(/^(\s*)deb(\s)/, "$1deb-src$2");
    const key = rewritten.trim();
    if (key !== "" && !key.startsWith("#")) {
      // A file with both `deb X` and `deb-src X` would now name X twice,
      // which apt warns about.
      if (seen.has(key)) continue;
      seen.add(key);
    }
    out.push(rewritten);
  }
  return out.join("\n");
}

/** The stanzas of a deb822 .sources file with `Types: deb` read as `Types: deb-src`. */
export function debSrcSources(text: string): string {
  const stanzas: string[] = [];
  const seen = new Set<string>();
  for (const stanza of text.split(/\n[ \t]*(?:\n[ \t]*)*\n/)) {
    const lines = stanza.split("\n");
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const match = /^(types)[ \t]*:(.*)$/i.exec(lines[i]!);
      if (!match) {
        out.push(lines[i]!);
        continue;
      }
      let value = match[2]!;
      // The field's continuation lines, if it was folded.
      while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) value += ` ${lines[++i]!}`;
      const types = [
        ...new Set(value.trim().split(/\s+/).map((t) => (t === "deb" ? "deb-src" : t))),
      ];
      out.push(`${match[1]}: ${types.join(" ")}`);
    }
    const rewritten = out.join("\n");
    const key = out.filter((l) => !l.trimStart().startsWith("#")).join("\n").trim();
    if (key !== "") {
      if (seen.has(key)) continue;
      seen.add(key);
    }
    stanzas.push(rewritten);
  }
  return stanzas.join("\n\n");
}

export interface AptSourcePlanInput {
  name: string;
  version: string;
  workDir: string;
  sourceFiles: readonly AptSourceFile[];
  /** Whether apt runs as root (see aptOptions). */
  asRoot: boolean;
}

export interface AptSourcePlan {
  /** Created before anything runs. */
  dirs: string[];
  /** The private configuration and the host's source files as deb-src entries. */
  files: { path: string; text: string }[];
  update: string[];
  /** Lists the files `download` fetches, with their size and digest from the index. */
  printUris: string[];
  /** Run in the destination directory: apt-get source writes there. */
  download: string[];
  /** Every source package named NAME or building a binary package NAME: for errors. */
  showsrc: string[];
}

// Every hook in the host's configuration would run after our update, as
// whoever runs nsbuild (on Debian: refreshing PackageKit's and AppStream's
// caches from the host's lists, not ours).
const PRIVATE_CONF = `// nsbuild: a private apt-get update must not run the host's hooks.
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
`;

/** The commands and files of one fetch; argv[0] is apt-get or apt-cache, to be resolved. */
export function planAptSource(input: AptSourcePlanInput): AptSourcePlan {
  const { workDir } = input;
  const parts = join(workDir, "sources.list.d");
  const conf = join(workDir, "apt.conf");
  const files = [
    { path: conf, text: PRIVATE_CONF },
    // apt reads this file before the parts; ours says nothing.
    { path: join(workDir, "sources.list"), text: "" },
    ...input.sourceFiles.map((file, i) => {
      const base = file.name.split("/").pop()!;
      const text = file.format === "sources" ? debSrcSources(file.text) : debSrcList(file.text);
      return {
        // Numbered so that apt reads them in the host's order.
        path: join(parts, `${String(i).padStart(2, "0")}-${base}`),
        text: `# ${file.name}, read as deb-src by nsbuild\n${text}`,
      };
    }),
  ];
  const options = [
    "-c",
    conf,
    "-o",
    `Dir::Etc::SourceList=${join(workDir, "sources.list")}`,
    "-o",
    `Dir::Etc::SourceParts=${parts}`,
    // Lists, their lock and the package caches: all ours. Locking stays on,
    // so two fetches sharing a work directory fail clearly instead of
    // mixing their lists; it needs no privilege there.
    "-o",
    `Dir::State::Lists=${join(workDir, "lists")}`,
    "-o",
    `Dir::Cache=${join(workDir, "cache")}`,
  ];
  if (input.asRoot) {
    // As root, apt hands downloads to its _apt user, who cannot write in a
    // private directory (it warns and goes on as root). As anyone else apt
    // runs its methods as that user, and this setting is not consulted.
    options.push("-o", "APT::Sandbox::User=root");
  }
  // The name is a source package's: never a binary package it builds, whose
  // version may differ.
  const spec = `${input.name}=${input.version}`;
  return {
    dirs: [
      join(workDir, "lists", "partial"),
      join(workDir, "cache", "archives", "partial"),
      parts,
    ],
    files,
    update: ["apt-get", ...options, "update"],
    printUris: ["apt-get", ...options, "--only-source", "--print-uris", "source", spec],
    download: ["apt-get", ...options, "--only-source", "--download-only", "source", spec],
    showsrc: ["apt-cache", ...options, "showsrc", input.name],
  };
}

export interface PlannedFile {
  uri: string;
  name: string;
  size: number;
  /** From the index, when it gives a SHA256. */
  sha256?: string;
}

/** The lines `apt-get source --print-uris` prints: 'URI' NAME SIZE ALGO:DIGEST. */
export function parsePrintUris(text: string): PlannedFile[] {
  const out: PlannedFile[] = [];
  for (const line of text.split("\n")) {
    const match = /^'([^']+)' (\S+) (\d+)(?: (\S+))?\s*$/.exec(line);
    if (!match) continue;
    const [, uri, name, size, hash] = match;
    const file: PlannedFile = { uri: uri!, name: name!, size: Number(size) };
    const sha256 = /^SHA256:([0-9a-f]{64})$/i.exec(hash ?? "");
    if (sha256) file.sha256 = sha256[1]!.toLowerCase();
    out.push(file);
  }
  return out;
}

export interface SourceRecord {
  package: string;
  version: string;
  binaries: string[];
}

/** The records `apt-cache showsrc` prints (deb822 paragraphs). */
export function parseShowsrc(text: string): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (const paragraph of text.split(/\n[ \t]*\n/)) {
    const field = (name: string) => {
      const match = new RegExp(`^${name}:[ \\t]*(.*(?:\\n[ \\t].*)*)`, "im").exec(paragraph);
      return match ? match[1]!.replace(/\n[ \t]+/g, " ").trim() : undefined;
    };
    const pkg = field("Package");
    const version = field("Version");
    if (!pkg || !version) continue;
    const binaries = (field("Binary") ?? "").split(",").map((b) => b.trim()).filter(Boolean);
    out.push({ package: pkg, version, binaries });
  }
  return out;
}

/** Why NAME=VERSION is not in the sources, from what showsrc found. */
export function explainMissing(
  name: string,
  version: string,
  records: readonly SourceRecord[],
): { message: string; hint: string } {
  const versions = (pkg: string) => [
    ...new Set(records.filter((r) => r.package === pkg).map((r) => r.version)),
  ];
  const own = versions(name);
  if (own.length > 0) {
    return {
      message: `${name} ${version} is not in the host's apt sources, which have ${name} ${
        own.join(", ")
      }`,
      hint: `ask for one of those versions, or add an apt source that carries ${version} ` +
        `(a suite keeps only its current versions; older ones are in dated snapshots of the archive)`,
    };
  }
  const builders = [
    ...new Set(records.filter((r) => r.binaries.includes(name)).map((r) => r.package)),
  ];
  if (builders.length > 0) {
    const which = builders.map((b) => `${b} (${versions(b).join(", ")})`).join(", ");
    return {
      message: `"${name}" is a binary package, not a source package: it is built by ${which}`,
      hint: `ask for the source package ${builders[0]}, at one of its versions`,
    };
  }
  return {
    message: `no source package "${name}" in the host's apt sources`,
    hint: "check the name: no source package of the host's apt sources (read as deb-src) " +
      "has it, and none builds a binary package of that name",
  };
}

export interface FetchedFile {
  name: string;
  size: number;
  sha256: string;
}

export interface FetchDebianSourceOptions {
  /** A source package name: `hello`, `glibc`. */
  name: string;
  /** Its exact Debian version: `2.10-3`. */
  version: string;
  /**
   * apt's private state: lists, caches, configuration. Created if missing;
   * reusable by later fetches (apt then downloads only what changed), by
   * one at a time.
   */
  workDir: string;
  /** Where the package's files are written; created if missing. */
  destDir: string;
  /** apt's progress, a line at a time. */
  onLine?: (line: string) => void;
  /** The source files to read as deb-src; the host's by default. */
  sourceFiles?: readonly AptSourceFile[];
  /** The programs to run; found on PATH by default. */
  programs?: { aptGet?: string; aptCache?: string };
}

const VERSION = /^[0-9][A-Za-z0-9.+~:-]*$/;

interface RunResult {
  success: boolean;
  code: number;
  lines: string[];
  stdout: string;
}

/**
 * Downloads NAME=VERSION's files (.dsc, tarballs, signatures) into destDir
 * and returns them with their sizes and sha256 digests, sorted by name.
 */
export async function fetchDebianSource(opts: FetchDebianSourceOptions): Promise<FetchedFile[]> {
  const { name, version } = opts;
  const fail = (message: string, hint: string, lines: string[] = []): AptSourceError =>
    new AptSourceError(
      `Debian source ${name}=${version}: ${message}` +
        (lines.length ? `\n${lines.map((l) => `  ${l}`).join("\n")}` : ""),
      hint,
      name,
      version,
      lines,
    );
  if (!isDebianPackageName(name)) {
    throw fail(
      `"${name}" is not a Debian package name`,
      "lowercase letters, digits, +, - and ., for example hello",
    );
  }
  if (!VERSION.test(version)) {
    throw fail(
      `"${version}" is not a Debian version`,
      "the version as `apt-cache showsrc` prints it, for example 2.10-3",
    );
  }
  const sourceFiles = opts.sourceFiles ?? hostAptSources();
  if (sourceFiles.length === 0) {
    throw fail(
      "the host has no apt sources to fetch through",
      "add one to /etc/apt/sources.list.d/ (a .sources or .list file)",
    );
  }
  const plan = planAptSource({
    name,
    version,
    workDir: opts.workDir,
    sourceFiles,
    asRoot: (Deno.uid() ?? 1) === 0,
  });
  for (const dir of plan.dirs) Deno.mkdirSync(dir, { recursive: true });
  Deno.mkdirSync(opts.destDir, { recursive: true });
  // Source files of an earlier fetch that the host has since dropped.
  const planned = new Set(plan.files.map((f) => f.path));
  for (const entry of Deno.readDirSync(join(opts.workDir, "sources.list.d"))) {
    const path = join(opts.workDir, "sources.list.d", entry.name);
    if (!planned.has(path)) Deno.removeSync(path, { recursive: true });
  }
  for (const file of plan.files) Deno.writeTextFileSync(file.path, file.text);

  const programs = { aptGet: "apt-get", aptCache: "apt-cache", ...opts.programs };
  const resolve = (argv: string[]) => [
    argv[0] === "apt-cache" ? programs.aptCache : programs.aptGet,
    ...argv.slice(1),
  ];
  const run = async (argv: string[], cwd: string, stream: boolean): Promise<RunResult> => {
    try {
      return await runApt(resolve(argv), cwd, stream ? opts.onLine : undefined);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw fail(
          `${argv[0]} is not installed`,
          "nsbuild fetches Debian sources with apt: install it",
        );
      }
      throw e;
    }
  };

  const update = await run(plan.update, opts.workDir, true);
  // apt-get update exits 0 when an index cannot be fetched, and the package
  // may well be in the other sources: go on, and tell of it if it is not.
  const updateProblem = updateFailures(update);
  const withUpdate = (hint: string) =>
    updateProblem.length
      ? `${hint}; apt-get update failed too (its errors are above): check the network ` +
        "and the host's apt sources"
      : hint;

  const listing = await run(plan.printUris, opts.destDir, false);
  const files = parsePrintUris(listing.stdout);
  if (!listing.success || files.length === 0) {
    const shown = await run(plan.showsrc, opts.workDir, false);
    const records = shown.success ? parseShowsrc(shown.stdout) : [];
    const lines = [...updateProblem, ...problemLines(listing.lines)];
    if (updateProblem.length && records.length === 0) {
      throw fail(
        "apt-get update could not fetch the indexes, and apt has no source package to look in",
        "check the network and the host's apt sources (apt's errors are above)",
        lines,
      );
    }
    const { message, hint } = explainMissing(name, version, records);
    throw fail(message, withUpdate(hint), lines);
  }

  const download = await run(plan.download, opts.destDir, true);
  if (!download.success) {
    throw fail(
      `apt-get source failed (exit status ${download.code})`,
      withUpdate(
        "run it again: apt checks every file against the signed index, so a failed " +
          "check is a broken download or a broken mirror",
      ),
      download.lines.slice(-8),
    );
  }

  const out: FetchedFile[] = [];
  for (const file of files) {
    const path = join(opts.destDir, file.name);
    let digest: { size: number; sha256: string };
    try {
      digest = await hashFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw fail(
        `apt-get source did not write ${file.name}`,
        "see apt's messages above",
        download.lines.slice(-8),
      );
    }
    if (digest.size !== file.size || (file.sha256 && digest.sha256 !== file.sha256)) {
      throw fail(
        `${file.name} is not what the index lists: ${digest.size} bytes, sha256 ` +
          `${digest.sha256}, where the index says ${file.size} bytes, sha256 ${file.sha256 ?? "-"}`,
        "remove it from the destination and fetch again",
      );
    }
    out.push({ name: file.name, ...digest });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What went wrong in an update: failed fetches and errors, or its last lines if it failed silently. */
export function updateFailures(result: { success: boolean; lines: string[] }): string[] {
  const failures = result.lines.filter((l) =>
    /^(E|Err):|^W: (Failed to fetch|Some index files failed)/.test(l)
  );
  if (failures.length) return failures.slice(-6);
  return result.success ? [] : result.lines.slice(-6);
}

/** apt's errors and warnings, or its last lines when it printed none. */
function problemLines(lines: string[]): string[] {
  const problems = lines.filter((l) => /^(E|W|Err):/.test(l));
  return (problems.length ? problems : lines).slice(-6);
}

async function runApt(
  argv: string[],
  cwd: string,
  onLine?: (line: string) => void,
): Promise<RunResult> {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // apt's messages in English, whatever the user's locale: they end up in
    // error messages and logs.
    env: { LC_ALL: "C" },
  }).spawn();
  const lines: string[] = [];
  const stdout: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>, keep?: string[]) => {
    for await (const line of readLines(stream)) {
      // Blank lines separate showsrc's records; they tell a person nothing.
      keep?.push(line);
      if (line.trim() === "") continue;
      lines.push(line);
      onLine?.(line);
    }
  };
  const [status] = await Promise.all([
    child.status,
    collect(child.stdout, stdout),
    collect(child.stderr),
  ]);
  return { success: status.success, code: status.code, lines, stdout: stdout.join("\n") };
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split(/\r?\n|\r/);
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest !== "") yield rest;
}

async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  // The stream closes the file at its end.
  const file = await Deno.open(path);
  for await (const chunk of file.readable) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest("hex") };
}
