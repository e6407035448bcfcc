/**
 * Producers of uncompressed tar streams for unpackTar(): an archive file
 * (decompressed by the host's gzip, xz, zstd or bzip2), a directory (packed
 * by tar inside a sandbox, so owners read as they are inside), or a command
 * that writes one to stdout (mmdebstrap).
 */
import { joinPath as join } from "../util/path.ts";
import { findProgram } from "../util/which.ts";
import type { Executor } from "../sandbox/executor.ts";
import { runHostTool } from "../sandbox/host_tools.ts";
import { forEachLine, openFifo } from "../sandbox/capture.ts";
import { ImportError, tailOf, type TarProducer } from "./import.ts";

export type Compression = "none" | "gzip" | "xz" | "zstd" | "bzip2";

/** Compression by magic number, not by file name. */
export function detectCompression(head: Uint8Array): Compression {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  return "none";
}

const DECOMPRESSORS: Record<
  Exclude<Compression, "none">,
  { program: string; args: string[]; pkg: string }
> = {
  gzip: { program: "gzip", args: ["-dc"], pkg: "gzip" },
  xz: { program: "xz", args: ["-dc", "-T0"], pkg: "xz-utils" },
  zstd: { program: "zstd", args: ["-dcq"], pkg: "zstd" },
  bzip2: { program: "bzip2", args: ["-dc"], pkg: "bzip2" },
};

function readHead(path: string): Uint8Array {
  const file = Deno.openSync(path, { read: true });
  try {
    const head = new Uint8Array(8);
    const n = file.readSync(head) ?? 0;
    return head.subarray(0, n);
  } finally {
    file.close();
  }
}

/** Collects a child's stderr lines; keeps the last few for an error message. */
async function lastLines(
  stream: ReadableStream<Uint8Array>,
  onLine?: (line: string) => void,
): Promise<string[]> {
  const kept: string[] = [];
  await forEachLine(stream, () => {}, (line) => {
    onLine?.(line);
    kept.push(line);
    if (kept.length > 20) kept.shift();
  });
  return kept;
}

export function archiveProducer(path: string, label: string): TarProducer {
  let head;
  try {
    head = readHead(path);
  } catch (e) {
    throw new ImportError(
      `${label}: cannot read ${path}: ${(e as Error).message}`,
      "check the path",
    );
  }
  const compression = detectCompression(head);
  if (compression === "none") {
    const file = Deno.openSync(path, { read: true });
    return { stream: file.readable, done: Promise.resolve(), cancel: () => {} };
  }
  const { program, args, pkg } = DECOMPRESSORS[compression];
  const binary = findProgram(program);
  if (!binary) {
    throw new ImportError(
      `${label}: the archive is ${compression}-compressed and ${program} is not installed`,
      `install it: apt-get install ${pkg}`,
    );
  }
  return childProducer(
    new Deno.Command(binary, {
      args: [...args, "--", path],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
    // Killed by cancel() after it complained (it closes its output, the
    // importer stops on the short stream and cancels): its complaint is the news.
    (status, lines) =>
      !status.success && (status.signal !== "SIGKILL" || lines.length > 0)
        ? new ImportError(
          `${label}: ${program} could not decompress it: ${
            lines.at(-1) ?? `exit status ${status.code}`
          }`,
          "the archive is corrupt or truncated; nothing was kept",
        )
        : undefined,
  );
}

/**
 * A child writing a tar stream to stdout. `failure` turns its end into the
 * error the importer reports, if any; its stderr lines go to onLine.
 */
function childProducer(
  command: Deno.Command,
  failure: (status: Deno.CommandStatus, lines: string[]) => ImportError | undefined,
  onLine?: (line: string) => void,
): TarProducer {
  const child = command.spawn();
  const stderr = lastLines(child.stderr, onLine);
  const done = (async () => {
    const [status, lines] = await Promise.all([child.status, stderr]);
    const error = failure(status, lines);
    if (error) throw error;
  })();
  done.catch(() => {}); // awaited by the importer; never an unhandled rejection meanwhile
  return {
    stream: child.stdout,
    done,
    cancel: () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    },
  };
}

/** A command writing a tar stream to stdout; its stderr lines go to onLine. */
export function commandProducer(
  argv: string[],
  label: string,
  onLine?: (line: string) => void,
  env?: Record<string, string>,
): TarProducer {
  return childProducer(
    new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env,
    }),
    (status, lines) =>
      !status.success && status.signal !== "SIGKILL"
        ? new ImportError(
          `${label}: ${argv[0]} failed (exit status ${status.code}):\n${
            lines.slice(-8).join("\n")
          }`,
          "nothing was kept; see its messages above",
        )
        : undefined,
    onLine,
  );
}

/**
 * A directory packed by GNU tar as root of the user namespace: files the
 * user owns read as root's, subordinate-owned ones as their ids inside.
 * Sorted by name so an unchanged directory packs to the same bytes.
 */
export async function directoryProducer(
  store: string,
  scratch: string,
  executor: Executor,
  source: string,
  label: string,
): Promise<TarProducer> {
  const fifo = join(scratch, "out.fifo");
  const log = join(scratch, "pack.log");
  executor.mkfifo(fifo, 0o600);
  const abort = new AbortController();
  const sandbox = runHostTool({
    store,
    executor,
    argv: ["tar", "-C", "/source", "--sort=name", "--numeric-owner", "-cf", "-", "."],
    binds: [{ source, target: "/source", readonly: true, directory: true }],
    stdio: { stdout: fifo, stderr: log },
    signal: abort.signal,
  });
  const file = await openFifo(fifo, "read", sandbox);
  if (!file) {
    const result = await sandbox;
    throw result.error ??
      new ImportError(`${label}: packing the directory failed:\n${tailOf(log)}`);
  }
  const done = (async () => {
    const result = await sandbox;
    if (result.error) throw result.error;
    if (result.status !== 0 && !abort.signal.aborted) {
      throw new ImportError(
        `${label}: packing the directory failed (tar exited ${result.status}):\n${tailOf(log)}`,
        "check that the directory is readable",
      );
    }
  })();
  done.catch(() => {}); // awaited by the importer; never an unhandled rejection meanwhile
  return { stream: file.readable, done, cancel: () => abort.abort() };
}
