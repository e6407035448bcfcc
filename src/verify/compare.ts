/**
 * Comparing the outputs of two builds, entry by entry: what is only on one
 * side, a different kind of entry, permission bits, symlink targets, and
 * file contents (sizes, sha256, the first differing byte with a little
 * context). Nothing is followed: a symlink is compared as a symlink.
 * Modification times are not compared: they say when a step wrote a file,
 * and neither the manifest nor a package records them.
 */
import { createHash } from "node:crypto";
import { joinPath as join } from "../util/path.ts";

export type EntryType = "file" | "dir" | "symlink" | "other";

export interface EntryFacts {
  type: EntryType;
  /** Permission bits (07777); a symlink's are not compared. */
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
}

export type DifferenceKind = "only-in-a" | "only-in-b" | "type" | "mode" | "target" | "content";

export interface Difference {
  /** Relative to the output directory, with "/" between parts. */
  path: string;
  kind: DifferenceKind;
  /** One line: what differs. */
  summary: string;
  a?: EntryFacts;
  b?: EntryFacts;
  /** For contents: the offset of the first differing byte. */
  firstDifference?: number;
  /** Lines that show the difference: diffoscope's report, or the bytes around it. */
  account: string[];
}

export interface Comparison {
  /** Files and symlinks on either side (directories are not counted). */
  files: number;
  /** Of those, the ones equal on both sides. */
  identical: number;
  differences: Difference[];
}

export interface CompareOptions {
  /** diffoscope's path: its report becomes the account of a content difference. */
  diffoscope?: string;
  /** The most lines kept of one diffoscope report. */
  maxAccountLines?: number;
  /** How long one diffoscope run may take, in milliseconds. */
  diffoscopeTimeoutMs?: number;
}

const CHUNK = 64 * 1024;
const CONTEXT_BEFORE = 16;
const CONTEXT_AFTER = 32;
const decoder = new TextDecoder();

async function facts(path: string): Promise<EntryFacts | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const mode = (info.mode ?? 0) & 0o7777;
  if (info.isSymlink) return { type: "symlink", mode, target: await Deno.readLink(path) };
  if (info.isDirectory) return { type: "dir", mode };
  if (info.isFile) return { type: "file", mode, size: info.size };
  return { type: "other", mode };
}

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found;
}

/** Reads until `buffer` is full or the file ends; the count read. */
async function readFull(file: Deno.FsFile, buffer: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

interface ContentFacts {
  sha256A: string;
  sha256B: string;
  /** The first offset where the bytes differ (or where the shorter file ends), if any. */
  firstDifference?: number;
}

/** Both files read once, side by side: their digests and where they part. */
async function compareContents(pathA: string, pathB: string): Promise<ContentFacts> {
  const hashA = createHash("sha256");
  const hashB = createHash("sha256");
  const fileA = await Deno.open(pathA, { read: true });
  const fileB = await Deno.open(pathB, { read: true });
  const bufA = new Uint8Array(CHUNK);
  const bufB = new Uint8Array(CHUNK);
  let offset = 0;
  let firstDifference: number | undefined;
  try {
    for (;;) {
      const nA = await readFull(fileA, bufA);
      const nB = await readFull(fileB, bufB);
      hashA.update(bufA.subarray(0, nA));
      hashB.update(bufB.subarray(0, nB));
      if (firstDifference === undefined) {
        const common = Math.min(nA, nB);
        for (let i = 0; i < common; i++) {
          if (bufA[i] !== bufB[i]) {
            firstDifference = offset + i;
            break;
          }
        }
        if (firstDifference === undefined && nA !== nB) firstDifference = offset + common;
      }
      offset += Math.max(nA, nB);
      if (nA < CHUNK && nB < CHUNK) break;
    }
  } finally {
    fileA.close();
    fileB.close();
  }
  return { sha256A: hashA.digest("hex"), sha256B: hashB.digest("hex"), firstDifference };
}

async function readAt(path: string, start: number, length: number): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    await file.seek(start, Deno.SeekMode.Start);
    const buffer = new Uint8Array(length);
    return buffer.subarray(0, await readFull(file, buffer));
  } finally {
    file.close();
  }
}

/** Text, unless the bytes hold a NUL or are not UTF-8 (a cut character at either end is fine). */
function asText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const inner = text.replace(/^\uFFFD+/, "").replace(/\uFFFD+$/, "");
  return inner.includes("\uFFFD") ? undefined : text;
}

function hexLine(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** The 1-based line number of `offset`, counted in the bytes before it. */
async function lineAt(path: string, offset: number): Promise<number> {
  const file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(CHUNK);
  let line = 1;
  let seen = 0;
  try {
    while (seen < offset) {
      const n = await file.read(buffer.subarray(0, Math.min(CHUNK, offset - seen)));
      if (n === null) break;
      for (let i = 0; i < n; i++) if (buffer[i] === 0x0a) line++;
      seen += n;
    }
  } finally {
    file.close();
  }
  return line;
}

/**
 * The bytes around `offset` on both sides: the differing lines when the
 * files are text there, else a hex window.
 */
export async function contextLines(
  pathA: string,
  pathB: string,
  offset: number,
): Promise<string[]> {
  const start = Math.max(0, offset - CONTEXT_BEFORE);
  const length = offset - start + CONTEXT_AFTER;
  const bytesA = await readAt(pathA, start, length);
  const bytesB = await readAt(pathB, start, length);
  const textA = asText(bytesA);
  const textB = asText(bytesB);
  const where = `first difference at byte ${offset}`;
  if (textA !== undefined && textB !== undefined) {
    const cut = offset - start;
    // The line holding the first differing byte, as far as the window shows it.
    const lineOf = (bytes: Uint8Array, complete: boolean) => {
      let from = Math.min(cut, bytes.length);
      while (from > 0 && bytes[from - 1] !== 0x0a) from--;
      let to = from;
      while (to < bytes.length && bytes[to] !== 0x0a) to++;
      const cutBefore = from === 0 && start > 0 ? "…" : "";
      const cutAfter = to === bytes.length && !complete ? "…" : "";
      const end = to === bytes.length && complete ? " (end of file)" : "";
      return `${cutBefore}${
        JSON.stringify(decoder.decode(bytes.subarray(from, to)))
      }${cutAfter}${end}`;
    };
    return [
      `${where} (line ${await lineAt(pathA, offset)}):`,
      `  a: ${lineOf(bytesA, bytesA.length < length)}`,
      `  b: ${lineOf(bytesB, bytesB.length < length)}`,
    ];
  }
  return [
    `${where}; bytes from ${start} (0x${start.toString(16)}):`,
    `  a: ${hexLine(bytesA) || "(end of file)"}`,
    `  b: ${hexLine(bytesB) || "(end of file)"}`,
  ];
}

/** diffoscope's text report of two files, cut to `maxLines`; undefined when it cannot say. */
async function diffoscopeAccount(
  diffoscope: string,
  pathA: string,
  pathB: string,
  maxLines: number,
  timeoutMs: number,
): Promise<string[] | undefined> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(diffoscope, {
      args: ["--text", "-", "--no-default-limits", "--", pathA, pathB],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { LC_ALL: "C.UTF-8" },
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch {
    return undefined;
  }
  // 1: the files differ, and the report says how; anything else is diffoscope's own trouble.
  if (output.code !== 1) return undefined;
  let lines = new TextDecoder().decode(output.stdout).replace(/\n$/, "").split("\n");
  // Its first two lines name the two files, which the account already does.
  if (lines[0]?.startsWith("--- ") && lines[1]?.startsWith("+++ ")) lines = lines.slice(2);
  if (lines.length <= maxLines) return lines;
  return [...lines.slice(0, maxLines), `… ${lines.length - maxLines} more lines of diffoscope`];
}

function shortHash(sha256: string): string {
  return sha256.slice(0, 16);
}

function describeType(f: EntryFacts): string {
  switch (f.type) {
    case "file":
      return `a file (${f.size} bytes)`;
    case "dir":
      return "a directory";
    case "symlink":
      return `a symlink to ${JSON.stringify(f.target)}`;
    case "other":
      return "a special file";
  }
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

/**
 * Compares the trees under `dirA` and `dirB` (not the two roots' own modes).
 * Differences come in path order.
 */
export async function compareTrees(
  dirA: string,
  dirB: string,
  options: CompareOptions = {},
): Promise<Comparison> {
  const maxLines = options.maxAccountLines ?? 200;
  const timeoutMs = options.diffoscopeTimeoutMs ?? 300_000;
  const result: Comparison = { files: 0, identical: 0, differences: [] };

  const walk = async (rel: string): Promise<void> => {
    const here = (dir: string) => rel ? join(dir, rel) : dir;
    const listA = await names(here(dirA)).catch(() => [] as string[]);
    const listB = await names(here(dirB)).catch(() => [] as string[]);
    for (const name of [...new Set([...listA, ...listB])].sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const a = await facts(join(dirA, path));
      const b = await facts(join(dirB, path));
      const counted = (a && a.type !== "dir") || (b && b.type !== "dir");
      if (counted) result.files++;
      const differ = (
        d: Omit<Difference, "path" | "a" | "b" | "account"> & { account?: string[] },
      ) => result.differences.push({ path, a, b, account: [], ...d });
      if (!a || !b) {
        const present = (a ?? b)!;
        differ({
          kind: a ? "only-in-a" : "only-in-b",
          summary: `only in build ${a ? "a" : "b"}: ${describeType(present)}`,
        });
        // What is under a directory on one side only is covered by this one line.
        continue;
      }
      if (a.type !== b.type) {
        differ({ kind: "type", summary: `${describeType(a)} in a, ${describeType(b)} in b` });
        continue;
      }
      if (a.type === "dir") {
        if (a.mode !== b.mode) {
          differ({ kind: "mode", summary: `mode ${octal(a.mode)} in a, ${octal(b.mode)} in b` });
        }
        await walk(path);
        continue;
      }
      if (a.type === "symlink") {
        if (a.target !== b.target) {
          differ({
            kind: "target",
            summary: `symlink to ${JSON.stringify(a.target)} in a, to ${
              JSON.stringify(b.target)
            } in b`,
          });
        } else result.identical++;
        continue;
      }
      if (a.type === "other") {
        // Exports hold files, directories and symlinks only; anything else is compared by mode.
        if (a.mode !== b.mode) {
          differ({ kind: "mode", summary: `mode ${octal(a.mode)} in a, ${octal(b.mode)} in b` });
        } else result.identical++;
        continue;
      }
      const content = await compareContents(join(dirA, path), join(dirB, path));
      a.sha256 = content.sha256A;
      b.sha256 = content.sha256B;
      const modeDiffers = a.mode !== b.mode;
      if (content.firstDifference === undefined) {
        if (modeDiffers) {
          differ({ kind: "mode", summary: `mode ${octal(a.mode)} in a, ${octal(b.mode)} in b` });
        } else result.identical++;
        continue;
      }
      const sizes = a.size === b.size
        ? `${a.size} bytes on both sides`
        : `${a.size} bytes in a, ${b.size} in b`;
      const account = [
        `a: ${a.size} bytes, sha256 ${shortHash(a.sha256)}…`,
        `b: ${b.size} bytes, sha256 ${shortHash(b.sha256)}…`,
        ...await contextLines(join(dirA, path), join(dirB, path), content.firstDifference),
      ];
      if (modeDiffers) account.push(`mode ${octal(a.mode)} in a, ${octal(b.mode)} in b`);
      if (options.diffoscope) {
        const report = await diffoscopeAccount(
          options.diffoscope,
          join(dirA, path),
          join(dirB, path),
          maxLines,
          timeoutMs,
        );
        if (report) account.push("diffoscope:", ...report.map((l) => `  ${l}`));
      }
      differ({
        kind: "content",
        summary: `contents differ (${sizes}) from byte ${content.firstDifference}`,
        firstDifference: content.firstDifference,
        account,
      });
    }
  };
  await walk("");
  return result;
}
