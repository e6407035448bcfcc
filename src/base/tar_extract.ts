/**
 * Unpacking a build's outputs on the host, where a mistake would be the
 * host's: the archive comes from a sandbox that ran the recipe's commands.
 * Members are held to the filter's rules (relative names, no "..", nothing
 * beneath a symlink) and, as a second line, files are only ever created
 * new (O_EXCL does not follow a symlink), links are never followed to set
 * modes or times, and nothing is kept of setuid or setgid bits.
 */
import { createHash } from "node:crypto";
import { joinPath as join } from "../util/path.ts";
import { ArchiveError, type TarEntry, TarReader } from "./tar_reader.ts";
import { MemberGuard } from "./tar_filter.ts";

export { ArchiveError };

export interface ExtractedFile {
  /** Relative to the destination, with "/" between parts. */
  path: string;
  type: "file" | "symlink" | "dir";
  /** Bytes of a file's content; 0 otherwise. */
  size: number;
  /** Hex sha256 of a file's content. */
  sha256?: string;
  linkTarget?: string;
  /** The permission bits applied (0o777 for a symlink). */
  mode: number;
}

export interface ExtractResult {
  /** In archive order; a member given again replaces its earlier entry. */
  files: ExtractedFile[];
  /** Device nodes and FIFOs, which are not created. */
  skipped: number;
}

/** Unpacks `input` into the empty directory `destDir`; the files made, in archive order. */
export async function extractTar(
  input: ReadableStream<Uint8Array>,
  destDir: string,
): Promise<ExtractedFile[]> {
  return (await extractArchive(input, destDir)).files;
}

function quote(name: string): string {
  return JSON.stringify(name);
}

function refused(entry: TarEntry, problem: string): ArchiveError {
  return new ArchiveError(
    `member ${quote(entry.path)}: ${problem} (at byte ${entry.offset})`,
    entry.offset,
  );
}

/** Like extractTar(), and counts what it skipped. */
export async function extractArchive(
  input: ReadableStream<Uint8Array>,
  destDir: string,
): Promise<ExtractResult> {
  let nonEmpty: boolean;
  try {
    if (!Deno.statSync(destDir).isDirectory) throw new Error(`${destDir} is not a directory`);
    nonEmpty = !Deno.readDirSync(destDir)[Symbol.iterator]().next().done;
  } catch (e) {
    await input.cancel(e).catch(() => {});
    throw e;
  }
  if (nonEmpty) {
    const error = new Error(`cannot extract into ${destDir}: it is not empty`);
    await input.cancel(error).catch(() => {});
    throw error;
  }
  const extractor = new Extractor(destDir);
  const reader = new TarReader(input);
  try {
    for (let entry = await reader.next(); entry; entry = await reader.next()) {
      await extractor.add(entry);
    }
  } catch (e) {
    await reader.cancel(e);
    throw e;
  }
  extractor.finish();
  return { files: [...extractor.files.values()], skipped: extractor.skipped };
}

class Extractor {
  readonly #dest: string;
  readonly #guard = new MemberGuard();
  /** Directories known to exist: made here, or the destination itself (""). */
  readonly #dirs = new Set<string>([""]);
  /** Modes and times for directory members, set once nothing more is made inside them. */
  readonly #dirStats = new Map<string, { mode: number; mtime: number }>();
  readonly files = new Map<string, ExtractedFile>();
  skipped = 0;

  constructor(dest: string) {
    this.#dest = dest;
  }

  async add(entry: TarEntry): Promise<void> {
    if (entry.type === "global") return;
    // GNU tar -c writes neither without --sparse or odd files; their data is not the file's.
    const sparse = entry.type === "sparse" ||
      [...(entry.pax?.keys() ?? [])].some((key) => key.startsWith("GNU.sparse."));
    if (sparse) throw refused(entry, "a sparse file, which nsbuild does not unpack");
    if (entry.type === "other") {
      const type = `type ${quote(entry.typeflag)}`;
      throw refused(
        entry,
        `a member of ${type}: nsbuild unpacks only files, directories and links`,
      );
    }
    const { path, linkTarget } = this.#guard.check(entry);
    if (entry.type === "char" || entry.type === "block" || entry.type === "fifo") {
      this.skipped++;
      return;
    }
    const full = join(this.#dest, path);
    if (entry.type === "dir") {
      const mode = entry.mode & 0o1777;
      this.#dirStats.set(path, { mode, mtime: entry.mtime });
      if (path === "") return;
      // Owner-writable until finish(): a read-only directory's members come after it.
      this.#makeDir(entry, path, 0o700, true);
      this.#record({ path, type: "dir", size: 0, mode });
      return;
    }
    this.#makeParents(entry, path);
    this.#clear(entry, path, full);
    if (entry.type === "symlink") {
      Deno.symlinkSync(entry.linkpath, full);
      this.#record({ path, type: "symlink", size: 0, linkTarget: entry.linkpath, mode: 0o777 });
    } else if (entry.type === "hardlink") {
      this.#link(entry, path, linkTarget!);
    } else {
      await this.#writeFile(entry, path, full);
    }
  }

  finish(): void {
    // Deepest first, though only creating entries changes a directory's times.
    const dirs = [...this.#dirStats].sort(([a], [b]) => b.length - a.length);
    for (const [path, { mode, mtime }] of dirs) {
      const full = path === "" ? this.#dest : join(this.#dest, path);
      Deno.chmodSync(full, mode);
      Deno.utimeSync(full, mtime, mtime);
    }
  }

  #record(file: ExtractedFile): void {
    // A later member for the same path is the one that stays; it goes where it came.
    this.files.delete(file.path);
    this.files.set(file.path, file);
  }

  #makeParents(entry: TarEntry, path: string): void {
    for (let slash = path.indexOf("/"); slash >= 0; slash = path.indexOf("/", slash + 1)) {
      const parent = path.slice(0, slash);
      if (!this.#dirs.has(parent)) this.#makeDir(entry, parent, 0o755, false);
    }
  }

  /** `replace`: the directory is the member itself, which may replace an earlier file. */
  #makeDir(entry: TarEntry, path: string, mode: number, replace: boolean): void {
    if (this.#dirs.has(path)) return;
    this.#makeParents(entry, path);
    const full = join(this.#dest, path);
    try {
      Deno.mkdirSync(full, { mode });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const info = Deno.lstatSync(full);
      if (!info.isDirectory) {
        // Not a symlink: the guard refuses members beneath those. An earlier file, then.
        if (!replace) {
          throw refused(entry, `${quote(path)}, earlier in the archive, is not a directory`);
        }
        Deno.removeSync(full);
        Deno.mkdirSync(full, { mode });
        this.files.delete(path);
      }
    }
    this.#dirs.add(path);
  }

  /** Makes room for a member that is not a directory. */
  #clear(entry: TarEntry, path: string, full: string): void {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(full);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (info.isDirectory) throw refused(entry, "it would replace a directory");
    Deno.removeSync(full);
    this.files.delete(path);
  }

  #link(entry: TarEntry, path: string, target: string): void {
    const existing = this.files.get(target);
    if (!existing || existing.type === "dir") {
      const what = `hardlink to ${quote(entry.linkpath)}`;
      throw refused(entry, `${what}, which is not a file or symlink earlier in the archive`);
    }
    const full = join(this.#dest, path);
    if (existing.type === "symlink") {
      // A second symlink, not a hard link to one: link() on a symlink is not the same everywhere.
      Deno.symlinkSync(existing.linkTarget!, full);
    } else {
      Deno.linkSync(join(this.#dest, target), full);
    }
    this.#record({ ...existing, path });
  }

  async #writeFile(entry: TarEntry, path: string, full: string): Promise<void> {
    const hash = createHash("sha256");
    const file = await Deno.open(full, { write: true, createNew: true, mode: 0o600 });
    try {
      for await (const piece of entry.data()) {
        hash.update(piece);
        let done = 0;
        while (done < piece.length) done += await file.write(piece.subarray(done));
      }
    } finally {
      file.close();
    }
    const mode = entry.mode & 0o777;
    Deno.chmodSync(full, mode);
    Deno.utimeSync(full, entry.mtime, entry.mtime);
    this.#record({ path, type: "file", size: entry.size, sha256: hash.digest("hex"), mode });
  }
}
