/**
 * Test helpers for the tar modules: hand-made headers for the archives GNU
 * tar will not write (absolute names, device nodes without root, broken
 * checksums), and GNU tar itself for the archives it does.
 */
import { createHash } from "node:crypto";
import { TarReader } from "./tar_reader.ts";

const ENCODER = new TextEncoder();

export interface HeaderFields {
  name: string;
  /** "0" unless given. */
  typeflag?: string;
  /** The data's length when built by tarMember(). */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  /** The ustar prefix field. */
  prefix?: string;
  /** "ustar" (POSIX, the default), "gnu" (old GNU magic) or "v7" (none). */
  format?: "ustar" | "gnu" | "v7";
  devmajor?: number;
  devminor?: number;
  /** Bytes written over the header at these offsets before the checksum is computed. */
  raw?: Record<number, Uint8Array>;
  /** Breaks the checksum. */
  badChecksum?: boolean;
}

function put(block: Uint8Array, offset: number, length: number, text: string | Uint8Array): void {
  const bytes = typeof text === "string" ? ENCODER.encode(text) : text;
  if (bytes.length > length) {
    throw new Error(`${JSON.stringify(text)} does not fit in ${length} bytes`);
  }
  block.set(bytes, offset);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0") + "\0";
}

/** GNU's base-256 form of a number for a field of `length` bytes. */
export function base256(value: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = BigInt(value);
  if (v < 0n) v += 1n << BigInt(8 * (length - 1));
  for (let i = length - 1; i > 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = value < 0 ? 0xff : 0x80;
  return out;
}

export function tarHeader(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(512);
  put(block, 0, 100, fields.name);
  put(block, 100, 8, octal(fields.mode ?? 0o644, 8));
  put(block, 108, 8, octal(fields.uid ?? 0, 8));
  put(block, 116, 8, octal(fields.gid ?? 0, 8));
  put(block, 124, 12, octal(fields.size ?? 0, 12));
  put(block, 136, 12, octal(fields.mtime ?? 1_700_000_000, 12));
  put(block, 156, 1, fields.typeflag ?? "0");
  put(block, 157, 100, fields.linkname ?? "");
  const format = fields.format ?? "ustar";
  if (format === "ustar") put(block, 257, 8, "ustar\x0000");
  if (format === "gnu") put(block, 257, 8, "ustar  \0");
  if (format !== "v7") {
    put(block, 265, 32, "root");
    put(block, 297, 32, "root");
    put(block, 329, 8, octal(fields.devmajor ?? 0, 8));
    put(block, 337, 8, octal(fields.devminor ?? 0, 8));
  }
  if (fields.prefix) put(block, 345, 155, fields.prefix);
  for (const [offset, bytes] of Object.entries(fields.raw ?? {})) block.set(bytes, Number(offset));
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  if (fields.badChecksum) sum += 1;
  put(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

/** A header and its data, padded to whole blocks. */
export function tarMember(fields: HeaderFields & { data?: string | Uint8Array }): Uint8Array {
  const data = typeof fields.data === "string"
    ? ENCODER.encode(fields.data)
    : fields.data ?? new Uint8Array(0);
  return concatBytes(tarHeader({ size: data.length, ...fields }), padded(data));
}

/** One pax record, its length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = ENCODER.encode(body).length;
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return `${length}${body}`;
}

/** A pax extended header ('x'), or global header ('g'), with its records. */
export function paxMember(records: [string, string][], typeflag = "x"): Uint8Array {
  const text = records.map(([key, value]) => paxRecord(key, value)).join("");
  return tarMember({ name: "./PaxHeaders/member", typeflag, data: text });
}

/** A GNU long name ('L') or long link name ('K') block and its data. */
export function gnuLong(typeflag: "L" | "K", value: string): Uint8Array {
  return tarMember({ name: "././@LongLink", typeflag, format: "gnu", data: `${value}\0` });
}

export function endOfArchive(): Uint8Array {
  return new Uint8Array(1024);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The bytes as a stream of chunks of the given sizes, the last size repeating. */
export function chunked(
  bytes: Uint8Array,
  sizes: number | number[] = 65536,
): ReadableStream<Uint8Array> {
  const list = typeof sizes === "number" ? [sizes] : sizes;
  let at = 0;
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      const size = list[Math.min(i++, list.length - 1)]!;
      // A copy: a producer's chunks are its own, never views of one buffer.
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Runs GNU tar; its stdout, or an error with its stderr. */
export async function runTar(
  args: string[],
  options: { cwd?: string; stdin?: Uint8Array } = {},
): Promise<{ stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command("tar", {
    args,
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const output = await child.output();
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`tar ${args.join(" ")} failed (${output.code}): ${stderr}`);
  return { stdout: output.stdout, stderr };
}

export type TreeSpec = Record<
  string,
  | string
  | { file: string | Uint8Array; mode?: number; mtime?: number }
  | { dir: true; mode?: number; mtime?: number }
  | { symlink: string }
  | { hardlink: string }
  | { fifo: true }
>;

/** Creates files, directories, links and FIFOs under dir, in the order given. */
export function makeTree(dir: string, spec: TreeSpec): void {
  const dirModes: [string, number | undefined, number | undefined][] = [];
  for (const [path, what] of Object.entries(spec)) {
    const full = `${dir}/${path}`;
    const parent = full.slice(0, full.lastIndexOf("/"));
    Deno.mkdirSync(parent, { recursive: true });
    if (typeof what === "string" || "file" in what) {
      const content = typeof what === "string" ? what : what.file;
      if (typeof content === "string") Deno.writeTextFileSync(full, content);
      else Deno.writeFileSync(full, content);
      if (typeof what !== "string" && what.mode !== undefined) Deno.chmodSync(full, what.mode);
      if (typeof what !== "string" && what.mtime !== undefined) {
        Deno.utimeSync(full, what.mtime, what.mtime);
      }
    } else if ("dir" in what) {
      Deno.mkdirSync(full, { recursive: true });
      dirModes.push([full, what.mode, what.mtime]);
    } else if ("symlink" in what) {
      Deno.symlinkSync(what.symlink, full);
    } else if ("hardlink" in what) {
      Deno.linkSync(`${dir}/${what.hardlink}`, full);
    } else {
      const made = new Deno.Command("mkfifo", { args: [full] }).outputSync();
      if (!made.success) throw new Error(`mkfifo ${full} failed`);
    }
  }
  for (const [full, mode, mtime] of dirModes.reverse()) {
    if (mode !== undefined) Deno.chmodSync(full, mode);
    if (mtime !== undefined) Deno.utimeSync(full, mtime, mtime);
  }
}

/**
 * One line per path under dir, sorted: type, permission bits, and the
 * content's digest or the link's target; what two trees must share to be
 * the same.
 */
export function describeTree(dir: string, options: { mtimes?: boolean } = {}): string[] {
  const lines: string[] = [];
  const walk = (rel: string) => {
    for (const item of Deno.readDirSync(rel ? `${dir}/${rel}` : dir)) {
      const path = rel ? `${rel}/${item.name}` : item.name;
      const full = `${dir}/${path}`;
      const info = Deno.lstatSync(full);
      const mode = (info.mode! & 0o7777).toString(8);
      const mtime = options.mtimes ? ` mtime=${info.mtime!.getTime() / 1000}` : "";
      if (info.isSymlink) lines.push(`${path} symlink -> ${Deno.readLinkSync(full)}`);
      else if (info.isDirectory) {
        lines.push(`${path} dir ${mode}${mtime}`);
        walk(path);
      } else if (info.isFile) {
        lines.push(`${path} file ${mode} ${sha256Hex(Deno.readFileSync(full))}${mtime}`);
      } else lines.push(`${path} other ${mode}`);
    }
  };
  walk("");
  return lines.sort();
}

/** A temporary directory for fn, removed afterwards even where fn left read-only directories. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = Deno.makeTempDirSync({ prefix: "nsbuild-tar-test-" });
  try {
    return await fn(dir);
  } finally {
    const unlock = (path: string) => {
      for (const item of Deno.readDirSync(path)) {
        if (item.isDirectory) {
          Deno.chmodSync(`${path}/${item.name}`, 0o700);
          unlock(`${path}/${item.name}`);
        }
      }
    };
    Deno.chmodSync(dir, 0o700);
    unlock(dir);
    Deno.removeSync(dir, { recursive: true });
  }
}

/** A tree with a little of everything tar -c writes. */
export const SAMPLE_TREE: TreeSpec = {
  "empty": "",
  "small.txt": "hello\n",
  "block.bin": { file: "b".repeat(512) },
  "odd.bin": { file: "o".repeat(513), mode: 0o600 },
  "big.bin": { file: "x".repeat(100_000), mode: 0o755 },
  "dir/nested/deep.txt": "deep\n",
  "dir/private": { dir: true, mode: 0o750 },
  "link-abs": { symlink: "/etc/passwd" },
  "link-rel": { symlink: "../dir/nested/deep.txt" },
  "hard": { hardlink: "small.txt" },
  "fifo": { fifo: true },
};

/**
 * GNU tar's archive of `tree`, run in the tree's directory (mode 0700)
 * with `args` before "-cf -", names sorted and times fixed so that
 * archives compare.
 */
export async function archiveOf(
  tree: TreeSpec,
  args: string[],
  names = ["."],
): Promise<Uint8Array> {
  return await withTempDir(async (dir) => {
    makeTree(dir, tree);
    Deno.chmodSync(dir, 0o700);
    const fixed = ["--sort=name", "--mtime=@1700000000", "-C", dir];
    return (await runTar([...fixed, ...args, "-cf", "-", ...names])).stdout;
  });
}

/** The archive without its end-of-archive blocks and what follows them. */
export async function membersOf(archive: Uint8Array): Promise<Uint8Array> {
  const reader = new TarReader(chunked(archive));
  let end = 0;
  for await (const entry of reader) {
    await entry.skip();
    end = reader.offset;
  }
  return archive.subarray(0, end);
}
