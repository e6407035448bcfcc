/**
 * Unpacking a tar stream into a new store temporary, as root of the user
 * namespace (so the archive's numeric owners map through the subordinate
 * ids), inside a sandbox that sees only its target. The stream passes
 * through filterTar() on its way: hostile members are refused before GNU tar
 * sees them, device nodes are dropped and counted, and the digest of what
 * was unpacked names the entry.
 */
import { joinPath as join } from "../util/path.ts";
import type { Executor } from "../sandbox/executor.ts";
import { runHostTool } from "../sandbox/host_tools.ts";
import { forEachLine, openFifo } from "../sandbox/capture.ts";
import { createTemp, finishTemp, type StoreTemp } from "../store/temp.ts";
import { removeTrees } from "../store/remove.ts";
import { ArchiveError, filterTar } from "./tar_filter.ts";

export class ImportError extends Error {
  override name = "ImportError";
  constructor(message: string, readonly hint = "") {
    super(message);
  }
}

/** Where an uncompressed tar stream comes from; `done` rejects with a clear error if the producer failed. */
export interface TarProducer {
  stream: ReadableStream<Uint8Array>;
  done: Promise<void>;
  /** Stops the producer (the import failed on our side). */
  cancel(): void;
}

export interface UnpackedTree {
  temp: StoreTemp;
  /** temp.dir/rootfs */
  rootfs: string;
  digest: string;
  members: number;
  skippedDevices: number;
  bytes: number;
}

/** The last lines of a log file, for an error message. */
export function tailOf(path: string, lines = 5): string {
  try {
    const text = Deno.readTextFileSync(path).trimEnd();
    return text.split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.length) done += await file.write(chunk.subarray(done));
}

export interface UnpackOptions {
  store: string;
  tmpDir: string;
  executor: () => Executor;
  producer: TarProducer;
  /** Names the source in messages: "tar:/srv/base.tar.zst". */
  label: string;
}

export async function unpackTar(options: UnpackOptions): Promise<UnpackedTree> {
  const { producer, label } = options;
  const executor = options.executor();
  const temp = await createTemp(options.tmpDir, "base");
  const rootfs = join(temp.dir, "rootfs");
  const fifo = join(temp.dir, "in.fifo");
  // tar's messages come back through a FIFO into memory: a file in the
  // temporary would lose them exactly when the disk is full.
  const messages = join(temp.dir, "messages.fifo");
  const said: string[] = [];
  const abort = new AbortController();
  let unpacked: UnpackedTree | undefined;
  try {
    Deno.mkdirSync(rootfs, { mode: 0o755 });
    executor.mkfifo(fifo, 0o600);
    executor.mkfifo(messages, 0o600);
    const sandbox = runHostTool({
      store: options.store,
      executor,
      argv: [
        "tar",
        "-x",
        "--numeric-owner",
        "--same-owner",
        "--same-permissions",
        "-f",
        "-",
        "-C",
        "/target",
      ],
      binds: [{ source: rootfs, target: "/target", readonly: false, directory: true }],
      stdio: { stdin: fifo, stdout: messages, stderr: messages },
      signal: abort.signal,
    });
    // Both at once: the sandbox opens its stdin before its stdout.
    const [reader, writer] = await Promise.all([
      openFifo(messages, "read", sandbox),
      openFifo(fifo, "write", sandbox),
    ]);
    const collected = reader
      ? forEachLine(reader.readable, () => {}, (line) => {
        said.push(line);
        if (said.length > 20) said.shift();
      })
      : Promise.resolve();
    let filtered, filterError: unknown;
    if (writer) {
      try {
        filtered = await filterTar(producer.stream, (chunk) => writeAll(writer, chunk), {
          keepInputOnError: true,
        });
      } catch (e) {
        filterError = e;
      } finally {
        writer.close();
      }
    }
    if (filterError !== undefined || !writer) {
      abort.abort();
      if (writer) await drain(producer.stream, DRAIN_LIMIT_MS);
      producer.cancel();
    }
    const result = await sandbox;
    await collected;
    // The producer's own failure (a corrupt xz stream, mmdebstrap's error)
    // says more than what it did to the tar stream.
    await producer.done;
    if (filterError instanceof ArchiveError) {
      throw new ImportError(
        `${label}: ${filterError.message}`,
        "nothing was kept; fix or replace the archive",
      );
    }
    if (result.error) throw result.error;
    if (filterError !== undefined) {
      if (result.status !== 0) throw tarFailed(label, result.status, said, options.store);
      throw filterError;
    }
    if (result.status !== 0) throw tarFailed(label, result.status, said, options.store);
    Deno.removeSync(fifo);
    Deno.removeSync(messages);
    unpacked = { temp, rootfs, ...filtered! };
    return unpacked;
  } finally {
    if (!unpacked) await discardTemp(options.store, temp, options.executor);
  }
}

/**
 * How long a failed import keeps reading its producer: a decompressor fed a
 * damaged archive reports it (a CRC mismatch) only at its end, and that is
 * the truer error; killing it at once would lose it to the race.
 */
const DRAIN_LIMIT_MS = 2000;

/** Reads and drops what is left of a stream, until it ends, fails or the time is up. */
async function drain(stream: ReadableStream<Uint8Array>, limitMs: number): Promise<void> {
  let reader;
  try {
    reader = stream.getReader();
  } catch {
    return; // Cancelled or locked: nothing to drain.
  }
  const deadline = Date.now() + limitMs;
  try {
    while (Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), deadline - Date.now());
      });
      const next = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
      if (next === "late" || next.done) break;
    }
  } catch {
    // The stream failed: the producer's status says why.
  } finally {
    reader.releaseLock();
  }
}

function tarFailed(label: string, status: number, said: string[], store: string): ImportError {
  const tail = said.filter((l) => l.trim() !== "").slice(-5);
  if (tail.some((l) => /No space left on device/.test(l))) {
    return new ImportError(
      `${label}: the disk is full: no space left on device while unpacking into the store at ${store}`,
      "nothing was kept; free space (`nsbuild cache prune` removes unused entries) or set " +
        "NSBUILD_HOME to a store on a larger disk",
    );
  }
  return new ImportError(
    `${label}: unpacking failed (tar exited with status ${status})` +
      (tail.length ? `:\n${tail.join("\n")}` : ""),
    "nothing was kept; the archive is corrupt, or holds what a user namespace cannot create",
  );
}

/** Removes a temporary that will not become an entry, subordinate-owned files included. */
export async function discardTemp(
  store: string,
  temp: StoreTemp,
  executor: () => Executor,
): Promise<void> {
  try {
    await removeTrees(store, [temp.dir], executor);
    finishTemp(temp.dir, temp.lock);
  } catch {
    // Keep the lock file: `nsbuild cache prune` finds the remains.
    temp.lock.release();
  }
}
