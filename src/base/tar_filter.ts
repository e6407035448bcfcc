/**
 * The gate between an archive nsbuild did not make and the GNU tar that
 * unpacks it. Members pass through byte for byte, except device nodes (a
 * user namespace cannot create them and the sandbox brings its own /dev),
 * and any member that could make tar write outside its target is refused
 * before tar sees it: GNU tar's own defences depend on its options and
 * version; these do not.
 */
import { createHash } from "node:crypto";
import { ArchiveError, type TarEntry, TarReader, type TarReaderOptions } from "./tar_reader.ts";

export { ArchiveError };

export interface FilterResult {
  /** sha256 (hex) of exactly the bytes written out. */
  digest: string;
  /** Members written (global headers and dropped devices not counted). */
  members: number;
  skippedDevices: number;
  /** Bytes written out, the end-of-archive blocks included. */
  bytes: number;
}

function quote(name: string): string {
  return JSON.stringify(name);
}

function refused(entry: TarEntry, rule: string): ArchiveError {
  return new ArchiveError(
    `member ${quote(entry.path)}: ${rule} (at byte ${entry.offset})`,
    entry.offset,
  );
}

/**
 * A name as a path relative to the archive's root: no leading "./", no
 * repeated or trailing slashes, "" for the root itself; or why it cannot
 * be one.
 */
export function memberPath(name: string): { path: string } | { problem: string } {
  if (name === "") return { problem: "an empty name" };
  // GNU tar reads names as C strings: it would see less of this name than we do.
  if (name.includes("\0")) return { problem: "a NUL byte in the name" };
  if (name.startsWith("/")) return { problem: "absolute path: archives must hold relative names" };
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      return { problem: '".." in the name: archives must not climb out of their root' };
    }
    parts.push(part);
  }
  return { path: parts.join("/") };
}

/**
 * The rules every member must keep, in archive order. Besides names, it
 * remembers every path that has been a symlink: nothing may later be
 * written beneath one, even after a directory member at the same path,
 * which tar may well leave as the symlink.
 */
export class MemberGuard {
  readonly #symlinks = new Set<string>();

  /** The member's relative path ("" for the root), and a hardlink's target; throws ArchiveError. */
  check(entry: TarEntry): { path: string; linkTarget?: string } {
    const named = memberPath(entry.path);
    if ("problem" in named) throw refused(entry, named.problem);
    const { path } = named;
    if (path === "" && entry.type !== "dir") {
      throw refused(entry, "only a directory may stand for the archive's root");
    }
    const through = this.#symlinkAbove(path);
    if (through !== undefined) {
      const rule = "nothing may be written through a symlink";
      throw refused(entry, `beneath ${quote(through)}, a symlink earlier in the archive: ${rule}`);
    }
    if (entry.type === "symlink") {
      this.#symlinks.add(path);
      return { path };
    }
    if (entry.type !== "hardlink") return { path };
    const link = `hardlink to ${quote(entry.linkpath)}`;
    const target = memberPath(entry.linkpath);
    if ("problem" in target || target.path === "") {
      throw refused(
        entry,
        `${link}: hardlinks must point to an earlier member, inside the archive`,
      );
    }
    const targetThrough = this.#symlinkAbove(target.path);
    if (targetThrough !== undefined) {
      const rule = "nothing may be reached through a symlink";
      throw refused(
        entry,
        `${link}, beneath ${quote(targetThrough)}, a symlink earlier in the archive: ${rule}`,
      );
    }
    // A hard link to a symlink is another symlink.
    if (this.#symlinks.has(target.path)) this.#symlinks.add(path);
    return { path, linkTarget: target.path };
  }

  /** The nearest-the-root symlink among the path's parents. */
  #symlinkAbove(path: string): string | undefined {
    if (this.#symlinks.size === 0) return undefined;
    for (let slash = path.indexOf("/"); slash >= 0; slash = path.indexOf("/", slash + 1)) {
      const parent = path.slice(0, slash);
      if (this.#symlinks.has(parent)) return parent;
    }
    return undefined;
  }
}

/**
 * Keys GNU tar applies to every later member from a global header: one
 * such header would rename or resize everything after it, so it is refused.
 */
function checkGlobal(entry: TarEntry): void {
  for (const key of entry.pax?.keys() ?? []) {
    if (key === "path" || key === "linkpath" || key === "size" || key.startsWith("GNU.sparse.")) {
      const what = `a global header at byte ${entry.offset} sets ${quote(key)}`;
      throw new ArchiveError(`${what} for every later member: refused`, entry.offset);
    }
  }
}

/** Collects views and writes them in batches; neighbours in one buffer become one view. */
class Output {
  readonly #write: (chunk: Uint8Array) => Promise<void>;
  readonly #hash = createHash("sha256");
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  bytes = 0;

  constructor(write: (chunk: Uint8Array) => Promise<void>) {
    this.#write = write;
  }

  get full(): boolean {
    return this.#pendingBytes >= 256 * 1024;
  }

  push(view: Uint8Array): void {
    if (view.length === 0) return;
    this.#pendingBytes += view.length;
    const last = this.#pending[this.#pending.length - 1];
    if (last && last.buffer === view.buffer && last.byteOffset + last.length === view.byteOffset) {
      this.#pending[this.#pending.length - 1] = new Uint8Array(
        last.buffer,
        last.byteOffset,
        last.length + view.length,
      );
    } else {
      this.#pending.push(view);
    }
  }

  /**
   * One write per batch: each write to the FIFO is a trip through Deno's
   * blocking thread pool, and GNU tar reads what one write gives it.
   */
  async flush(): Promise<void> {
    const pending = this.#pending;
    const size = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (pending.length === 0) return;
    let batch = pending[0]!;
    if (pending.length > 1) {
      batch = new Uint8Array(size);
      let at = 0;
      for (const view of pending) {
        batch.set(view, at);
        at += view.length;
      }
    }
    this.#hash.update(batch);
    this.bytes += batch.length;
    await this.#write(batch);
  }

  digest(): string {
    return this.#hash.digest("hex");
  }
}

/**
 * Copies a tar stream to `write`, dropping device nodes and refusing
 * hostile members (ArchiveError, naming the member and the rule), and ends
 * it with the end-of-archive blocks. Bytes may already have been written
 * when it throws: the consumer must discard what it made of them.
 */
export async function filterTar(
  input: ReadableStream<Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
  options: TarReaderOptions = {},
): Promise<FilterResult> {
  const reader = new TarReader(input, options);
  const guard = new MemberGuard();
  const out = new Output(write);
  let members = 0;
  let skippedDevices = 0;
  try {
    for (let entry = await reader.next(); entry; entry = await reader.next()) {
      if (entry.type === "global") {
        checkGlobal(entry);
        out.push(entry.header);
        continue;
      }
      guard.check(entry);
      if (entry.type === "char" || entry.type === "block") {
        skippedDevices++;
        continue;
      }
      members++;
      out.push(entry.header);
      if (entry.size > 0) {
        for await (const piece of entry.stored()) {
          out.push(piece);
          if (out.full) await out.flush();
        }
      }
      if (out.full) await out.flush();
    }
    out.push(new Uint8Array(1024));
    await out.flush();
  } catch (e) {
    await reader.abandon(e);
    throw e;
  }
  return { digest: out.digest(), members, skippedDevices, bytes: out.bytes };
}
