/**
 * A streaming tar reader that sees an archive the way GNU tar extracting it
 * does. The filter in front of GNU tar judges members by what this reader
 * says they are, so wherever tar programs disagree (sizes of header-only
 * members, repeated extended headers, NUL bytes in names) this reader
 * either follows GNU tar's extraction or refuses the archive.
 *
 * Bytes are handed out as views of the input's own chunks wherever a block
 * or a piece of data lies within one chunk: a pass-through copies nothing.
 */

const BLOCK = 512;
/** Long names and extended headers are held in memory; real ones are far smaller. */
const MAX_EXTENDED = 1 << 20;
const EMPTY = new Uint8Array(0);
const UTF8 = new TextDecoder();

export class ArchiveError extends Error {
  override name = "ArchiveError";
  constructor(message: string, readonly offset?: number) {
    super(message);
  }
}

export type EntryType =
  | "file"
  | "hardlink"
  | "symlink"
  | "char"
  | "block"
  | "dir"
  | "fifo"
  /** GNU's old sparse format ('S'): the data is the file's non-hole parts. */
  | "sparse"
  /** A pax global header ('g'): not a member; its records apply to every later member. */
  | "global"
  /** Any other typeflag; GNU tar extracts unknown ones as regular files. */
  | "other";

export interface TarEntry {
  /** Where the member starts in the archive, its extended headers included. */
  readonly offset: number;
  /**
   * Every block before the member's data, as stored: GNU long name and link
   * blocks, the pax extended header with its records, the header itself and
   * any old-GNU sparse extension blocks.
   */
  readonly header: Uint8Array;
  /** The header's typeflag character ("0", "5", "S", ...; "\0" for old regular files). */
  readonly typeflag: string;
  readonly type: EntryType;
  /** The name GNU tar extracts to: pax path over GNU long name over ustar prefix/name. */
  readonly path: string;
  readonly linkpath: string;
  /** Permission bits with setuid, setgid and sticky (file-type bits removed). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of data after the header blocks, padding excluded. */
  readonly size: number;
  /** Seconds since the epoch; pax times may have a fraction. */
  readonly mtime: number;
  /** The member's own pax records ('x'), or a global header's records; global ones already applied. */
  readonly pax: ReadonlyMap<string, string> | undefined;
  /** The data in pieces, views of the input valid for as long as the caller keeps them. */
  data(): AsyncIterable<Uint8Array>;
  /** The data followed by its padding to a whole block, exactly as stored. */
  stored(): AsyncIterable<Uint8Array>;
  /** The whole data in one copy: for small members. */
  bytes(): Promise<Uint8Array>;
  /** Discards the data; reading the next entry does this too. */
  skip(): Promise<void>;
}

function quote(name: string): string {
  return JSON.stringify(name);
}

function truncated(what: string, at: number): ArchiveError {
  return new ArchiveError(
    `the archive ends inside ${what} at byte ${at}: it is truncated or corrupt`,
    at,
  );
}

/** Pulls chunks from the stream and hands out bytes, as views where it can. */
class Input {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  #eof = false;
  /** How many bytes have been handed out: the offset of the next one. */
  offset = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** False when the input has ended with nothing left unread. */
  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#eof) return false;
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#eof = true;
        this.#chunk = EMPTY;
        this.#pos = 0;
        return false;
      }
      this.#chunk = value;
      this.#pos = 0;
    }
    return true;
  }

  /** n bytes, or fewer only where the input ends; copied only when they straddle chunks. */
  async take(n: number): Promise<Uint8Array> {
    if (this.#pos >= this.#chunk.length) await this.#fill();
    const pos = this.#pos;
    if (pos + n <= this.#chunk.length) {
      this.#pos = pos + n;
      this.offset += n;
      return this.#chunk.subarray(pos, pos + n);
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n && await this.#fill()) {
      const k = Math.min(n - got, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + k), got);
      this.#pos += k;
      got += k;
    }
    this.offset += got;
    return got === n ? out : out.subarray(0, got);
  }

  /** Up to n bytes, as a view of one chunk; empty only at the end of the input. */
  async piece(n: number): Promise<Uint8Array> {
    if (!(await this.#fill())) return EMPTY;
    const pos = this.#pos;
    const k = Math.min(n, this.#chunk.length - pos);
    this.#pos = pos + k;
    this.offset += k;
    return this.#chunk.subarray(pos, pos + k);
  }

  /** Reads to the end: a producer writing into a pipe must not be left blocked, or see it break. */
  async drain(): Promise<void> {
    this.offset += this.#chunk.length - this.#pos;
    this.#chunk = EMPTY;
    this.#pos = 0;
    while (!this.#eof) {
      const { done, value } = await this.#reader.read();
      if (done) this.#eof = true;
      else this.offset += value.length;
    }
    this.#reader.releaseLock();
  }

  async cancel(reason?: unknown): Promise<void> {
    if (this.#eof) return;
    this.#eof = true;
    try {
      await this.#reader.cancel(reason);
    } catch {
      // Already errored or closed: nothing left to stop.
    }
  }

  /** Stops reading but leaves the stream to its owner, who may drain it. */
  release(): void {
    if (this.#eof) return;
    this.#eof = true;
    this.#reader.releaseLock();
  }
}

export interface TarReaderOptions {
  /**
   * On an error, release the stream instead of cancelling it: its owner
   * drains it, so that a decompressor upstream can finish and report its
   * own, truer error (a CRC mismatch) instead of dying of a closed pipe.
   */
  keepInputOnError?: boolean;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function checksumMatches(block: Uint8Array): boolean {
  let sum = 8 * 0x20;
  let high = 0;
  for (let i = 0; i < 148; i++) {
    const b = block[i]!;
    sum += b;
    if (b >= 0x80) high++;
  }
  for (let i = 156; i < BLOCK; i++) {
    const b = block[i]!;
    sum += b;
    if (b >= 0x80) high++;
  }
  let stored = 0;
  let i = 148;
  while (i < 156 && block[i] === 0x20) i++;
  let digits = 0;
  for (; i < 156; i++) {
    const c = block[i]!;
    if (c < 0x30 || c > 0x37) break;
    stored = stored * 8 + (c - 0x30);
    digits++;
  }
  // Some old tars summed signed chars; GNU tar accepts either.
  return digits > 0 && (stored === sum || stored === sum - 256 * high);
}

function looksCompressed(block: Uint8Array): string {
  const starts = (...bytes: number[]) => bytes.every((b, i) => block[i] === b);
  if (starts(0x1f, 0x8b)) return " (it looks gzip-compressed)";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a)) return " (it looks xz-compressed)";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return " (it looks zstd-compressed)";
  if (starts(0x42, 0x5a, 0x68)) return " (it looks bzip2-compressed)";
  return "";
}

function field(block: Uint8Array, start: number, length: number): string {
  let end = start;
  const limit = start + length;
  while (end < limit && block[end] !== 0) end++;
  return UTF8.decode(block.subarray(start, end));
}

/** A C string: GNU tar stops at the first NUL. */
function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return UTF8.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

const FIELD_NAMES: Record<number, string> = {
  100: "mode",
  108: "uid",
  116: "gid",
  124: "size",
  136: "mtime",
};

function badField(start: number, at: number): ArchiveError {
  return new ArchiveError(
    `not a tar archive, or corrupt: a bad ${
      FIELD_NAMES[start] ?? "numeric"
    } field in the header at byte ${at}`,
    at,
  );
}

/**
 * An octal or base-256 numeric field. `strict` (for sizes, which decide
 * where the next header is) takes only what GNU tar reads without a
 * complaint; elsewhere a blank field reads as 0.
 */
function numeric(
  block: Uint8Array,
  start: number,
  length: number,
  strict: boolean,
  at: number,
): number {
  const end = start + length;
  const first = block[start]!;
  const bad = () => badField(start, at);
  if (first === 0x80 || first === 0xff) {
    // GNU base-256: the rest of the field is big-endian, offset by 256^(length-1) when negative.
    let value = 0n;
    for (let i = start + 1; i < end; i++) value = (value << 8n) | BigInt(block[i]!);
    if (first === 0xff) value -= 1n << BigInt(8 * (length - 1));
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw bad();
    }
    return Number(value);
  }
  let i = start;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    const c = block[i]!;
    if (c !== 0 && c !== 0x20) throw bad();
  }
  if (digits === 0 && strict) throw bad();
  return value;
}

/** Parses "LEN KEY=VALUE\n" records; later records for a key override earlier ones. */
function paxRecords(data: Uint8Array, at: number): Map<string, string> {
  const records = new Map<string, string>();
  const bad = (why: string) =>
    new ArchiveError(
      `not a tar archive, or corrupt: ${why} in the extended header at byte ${at}`,
      at,
    );
  let pos = 0;
  while (pos < data.length) {
    // GNU tar pads the records with NULs to the end of the block.
    if (data[pos] === 0) break;
    let length = 0;
    let i = pos;
    while (i < data.length && data[i]! >= 0x30 && data[i]! <= 0x39) {
      length = length * 10 + (data[i]! - 0x30);
      i++;
      if (length > data.length) throw bad("a record longer than the header");
    }
    if (i === pos || data[i] !== 0x20) throw bad("a record without a length");
    const end = pos + length;
    if (end > data.length || data[end - 1] !== 0x0a) throw bad("a record whose length is wrong");
    const equals = data.indexOf(0x3d, i + 1);
    if (equals < 0 || equals >= end - 1) throw bad("a record without a key");
    const key = UTF8.decode(data.subarray(i + 1, equals));
    records.set(key, UTF8.decode(data.subarray(equals + 1, end - 1)));
    pos = end;
  }
  return records;
}

function paxNumber(
  records: Map<string, string>,
  key: string,
  integer: boolean,
  at: number,
): number | undefined {
  const text = records.get(key);
  if (text === undefined) return undefined;
  const pattern = integer ? /^\d+$/ : /^-?\d+(\.\d+)?$/;
  const value = Number(text);
  if (!pattern.test(text) || !Number.isSafeInteger(Math.trunc(value))) {
    throw new ArchiveError(
      `not a tar archive, or corrupt: ${key}=${quote(text)} in the extended header at byte ${at}`,
      at,
    );
  }
  return value;
}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
  "S": "sparse",
};

/** Types GNU tar extracts without reading data, whatever the size field says. */
const HEADER_ONLY = new Set<EntryType>(["hardlink", "symlink", "char", "block", "dir", "fifo"]);

const TYPE_WORDS: Partial<Record<EntryType, string>> = {
  hardlink: "a hardlink",
  symlink: "a symlink",
  char: "a character device",
  block: "a block device",
  dir: "a directory",
  fifo: "a FIFO",
};

/** One view when the parts lie side by side in one buffer, else a copy. */
export function joinViews(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  let length = 0;
  let adjacent = true;
  for (const part of parts) {
    if (part.buffer !== first.buffer || part.byteOffset !== first.byteOffset + length) {
      adjacent = false;
    }
    length += part.length;
  }
  if (adjacent) return new Uint8Array(first.buffer, first.byteOffset, length);
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function article(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind}`;
}

interface Preface {
  kind: "long name" | "long link name" | "extended header";
  offset: number;
}

/**
 * Reads entries one after another: `for await (const entry of reader)`.
 * An entry's data can be read only until the next entry is asked for.
 */
export class TarReader implements AsyncIterable<TarEntry> {
  readonly #input: Input;
  #global = new Map<string, string>();
  /** Data bytes of the current entry not yet read, then its padding. */
  #remaining = 0;
  #padding = 0;
  #current: TarEntry | undefined;
  #currentName = "";
  #ended = false;
  readonly #keepInputOnError: boolean;

  constructor(input: ReadableStream<Uint8Array>, options: TarReaderOptions = {}) {
    this.#input = new Input(input);
    this.#keepInputOnError = options.keepInputOnError ?? false;
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.#input.offset;
  }

  [Symbol.asyncIterator](): AsyncIterator<TarEntry> {
    return {
      next: async () => {
        const value = await this.next();
        return value ? { done: false, value } : { done: true, value: undefined };
      },
      return: async () => {
        await this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  /** Stops reading, and stops the stream's source unless it had ended already. */
  async cancel(reason?: unknown): Promise<void> {
    this.#ended = true;
    this.#current = undefined;
    await this.#input.cancel(reason);
  }

  /**
   * The next entry, or undefined after the end-of-archive block (the rest
   * of the input is read and ignored, as GNU tar does). On an error the
   * stream is cancelled, or released (keepInputOnError).
   */
  async next(): Promise<TarEntry | undefined> {
    if (this.#ended) return undefined;
    try {
      return await this.#next();
    } catch (e) {
      await this.abandon(e);
      throw e;
    }
  }

  /** Stops reading after an error: cancels the stream, or releases it (keepInputOnError). */
  async abandon(reason: unknown): Promise<void> {
    if (!this.#keepInputOnError) return await this.cancel(reason);
    this.#ended = true;
    this.#current = undefined;
    this.#input.release();
  }

  async #next(): Promise<TarEntry | undefined> {
    await this.#finishCurrent();
    this.#current = undefined;
    const input = this.#input;
    const start = input.offset;
    const blocks: Uint8Array[] = [];
    let prefaces: Preface[] = [];
    let longName: string | undefined;
    let longLink: string | undefined;
    let local: Map<string, string> | undefined;
    for (;;) {
      const at = input.offset;
      const block = await input.take(BLOCK);
      if (block.length < BLOCK) {
        if (prefaces.length > 0) {
          throw truncated(
            `the header of a member with ${article(prefaces[0]!.kind)}`,
            input.offset,
          );
        }
        if (input.offset === 0) throw new ArchiveError("the input is empty: not a tar archive", 0);
        if (start === 0 && !isZeroBlock(block)) {
          throw new ArchiveError(`not a tar archive: the input is only ${block.length} bytes`, 0);
        }
        // GNU tar, too, takes the end of the input, or a cut in the end-of-archive blocks, for the end.
        if (block.length === 0 || isZeroBlock(block)) return this.#end();
        throw truncated(`a header`, input.offset);
      }
      if (isZeroBlock(block)) {
        if (prefaces.length > 0) {
          throw new ArchiveError(
            `not a tar archive, or corrupt: the ${prefaces[0]!.kind} at byte ${
              prefaces[0]!.offset
            } is followed by the end of the archive, not by a member`,
            prefaces[0]!.offset,
          );
        }
        await input.drain();
        return this.#end();
      }
      if (!checksumMatches(block)) {
        throw new ArchiveError(
          `not a tar archive, or corrupt: header checksum mismatch at byte ${at}${
            at === 0 ? looksCompressed(block) : ""
          }`,
          at,
        );
      }
      blocks.push(block);
      const typeflag = String.fromCharCode(block[156]!);
      if (
        typeflag === "L" || typeflag === "K" || typeflag === "x" || typeflag === "X" ||
        typeflag === "g"
      ) {
        const kind = typeflag === "L"
          ? "long name"
          : typeflag === "K"
          ? "long link name"
          : "extended header";
        if (typeflag === "g" && prefaces.length > 0) {
          throw new ArchiveError(
            `not a tar archive, or corrupt: a global header at byte ${at} between the ${
              prefaces[0]!.kind
            } at byte ${prefaces[0]!.offset} and its member`,
            at,
          );
        }
        // GNU tar keeps only the last of each kind; two leave room for the filter and tar to disagree.
        if (prefaces.some((p) => p.kind === kind)) {
          throw new ArchiveError(
            `not a tar archive, or corrupt: a second ${kind} for one member at byte ${at}`,
            at,
          );
        }
        const size = numeric(block, 124, 12, true, at);
        if (size > MAX_EXTENDED) {
          throw new ArchiveError(
            `not a tar archive, or corrupt: the ${kind} at byte ${at} claims ${size} bytes`,
            at,
          );
        }
        const padded = Math.ceil(size / BLOCK) * BLOCK;
        const stored = await input.take(padded);
        if (stored.length < padded) throw truncated(article(kind), input.offset);
        blocks.push(stored);
        const content = stored.subarray(0, size);
        if (typeflag === "g") {
          const records = paxRecords(content, at);
          for (const [key, value] of records) this.#global.set(key, value);
          return this.#entry({
            offset: start,
            header: joinViews(blocks),
            typeflag,
            type: "global",
            path: field(block, 0, 100),
            linkpath: "",
            mode: numeric(block, 100, 8, false, at),
            uid: numeric(block, 108, 8, false, at),
            gid: numeric(block, 116, 8, false, at),
            size: 0,
            mtime: numeric(block, 136, 12, false, at),
            pax: records,
          });
        }
        prefaces = [...prefaces, { kind, offset: at }];
        if (typeflag === "L") longName = cString(content);
        else if (typeflag === "K") longLink = cString(content);
        else local = paxRecords(content, at);
        continue;
      }
      if (typeflag === "S" && block[482] !== 0) {
        // Old GNU sparse maps continue in extension blocks, flagged by their byte 504.
        let extension: Uint8Array;
        do {
          if (blocks.length * BLOCK > MAX_EXTENDED) {
            throw new ArchiveError(
              `not a tar archive, or corrupt: an endless sparse map at byte ${at}`,
              at,
            );
          }
          extension = await input.take(BLOCK);
          if (extension.length < BLOCK) {
            throw truncated(
              `the sparse map of member ${quote(field(block, 0, 100))}`,
              input.offset,
            );
          }
          blocks.push(extension);
        } while (extension[504] !== 0);
      }
      return this.#member(start, at, block, joinViews(blocks), typeflag, longName, longLink, local);
    }
  }

  #member(
    start: number,
    at: number,
    block: Uint8Array,
    header: Uint8Array,
    typeflag: string,
    longName: string | undefined,
    longLink: string | undefined,
    local: Map<string, string> | undefined,
  ): TarEntry {
    const records = this.#global.size === 0 ? local : new Map([...this.#global, ...(local ?? [])]);
    let path = longName;
    if (path === undefined) {
      path = field(block, 0, 100);
      // Only POSIX ustar has a prefix; GNU's format keeps other fields there.
      const ustar = block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 &&
        block[260] === 0x61 && block[261] === 0x72 && block[262] === 0;
      if (ustar && block[345] !== 0) path = `${field(block, 345, 155)}/${path}`;
    }
    let linkpath = longLink ?? field(block, 157, 100);
    let size = numeric(block, 124, 12, true, at);
    let uid = numeric(block, 108, 8, false, at);
    let gid = numeric(block, 116, 8, false, at);
    let mtime = numeric(block, 136, 12, false, at);
    if (records) {
      path = records.get("GNU.sparse.name") ?? records.get("path") ?? path;
      linkpath = records.get("linkpath") ?? linkpath;
      size = paxNumber(records, "size", true, at) ?? size;
      uid = paxNumber(records, "uid", true, at) ?? uid;
      gid = paxNumber(records, "gid", true, at) ?? gid;
      mtime = paxNumber(records, "mtime", false, at) ?? mtime;
    }
    let type: EntryType = TYPES[typeflag] ?? "other";
    // GNU tar extracts a regular file whose name ends in "/" as a directory, reading no data.
    if (type === "file" && path.endsWith("/")) type = "dir";
    if (HEADER_ONLY.has(type) && size !== 0) {
      throw new ArchiveError(
        `not a tar archive, or corrupt: member ${quote(path)} at byte ${at} is ${
          TYPE_WORDS[type]
        } ` +
          `that claims ${size} bytes of data, which tar programs skip or not`,
        at,
      );
    }
    this.#remaining = size;
    this.#padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.#currentName = path;
    return this.#entry({
      offset: start,
      header,
      typeflag,
      type,
      path,
      linkpath,
      mode: numeric(block, 100, 8, false, at) & 0o7777,
      uid,
      gid,
      size,
      mtime,
      pax: local,
    });
  }

  #entry(
    fields: Omit<TarEntry, "data" | "stored" | "bytes" | "skip">,
  ): TarEntry {
    if (fields.type === "global") {
      this.#remaining = 0;
      this.#padding = 0;
    }
    const entry: TarEntry = {
      ...fields,
      data: () => this.#pieces(entry, false),
      stored: () => this.#pieces(entry, true),
      bytes: () => this.#bytes(entry),
      skip: async () => {
        this.#check(entry);
        await this.#finishCurrent();
      },
    };
    this.#current = entry;
    return entry;
  }

  #end(): undefined {
    this.#ended = true;
    return undefined;
  }

  #check(entry: TarEntry): void {
    if (this.#current !== entry) {
      throw new Error(`the data of ${quote(entry.path)} was asked for after the reader moved on`);
    }
  }

  async *#pieces(entry: TarEntry, padding: boolean): AsyncGenerator<Uint8Array> {
    this.#check(entry);
    const input = this.#input;
    while (this.#remaining > 0 && this.#current === entry) {
      const piece = await input.piece(this.#remaining);
      if (piece.length === 0) throw this.#truncatedMember();
      this.#remaining -= piece.length;
      yield piece;
    }
    while (this.#padding > 0 && this.#current === entry) {
      const piece = await input.piece(this.#padding);
      if (piece.length === 0) throw this.#truncatedMember();
      this.#padding -= piece.length;
      if (padding) yield piece;
    }
  }

  async #bytes(entry: TarEntry): Promise<Uint8Array> {
    this.#check(entry);
    if (this.#remaining !== entry.size) {
      throw new Error(`the data of ${quote(entry.path)} was read already`);
    }
    const out = new Uint8Array(entry.size);
    let at = 0;
    for await (const piece of this.#pieces(entry, false)) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  async #finishCurrent(): Promise<void> {
    const input = this.#input;
    while (this.#remaining + this.#padding > 0) {
      const piece = await input.piece(this.#remaining + this.#padding);
      if (piece.length === 0) throw this.#truncatedMember();
      const data = Math.min(piece.length, this.#remaining);
      this.#remaining -= data;
      this.#padding -= piece.length - data;
    }
  }

  #truncatedMember(): ArchiveError {
    const error = truncated(`member ${quote(this.#currentName)}`, this.#input.offset);
    this.#ended = true;
    return error;
  }
}
