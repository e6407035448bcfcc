/**
 * The C executor behind Deno.dlopen. Search order for the library:
 *   1. $NSBUILD_EXECUTOR, a path to libnsbuild_executor.so;
 *   2. ffi/build/libnsbuild_executor.so in this checkout (`deno task setup`);
 *   3. in a compiled binary, the same file embedded with --include, copied
 *      into a memfd and opened from /proc/self/fd (dlopen needs a real file).
 */
import {
  decodeRecords,
  encodeHelpers,
  type ExecRecord,
  type Executor,
  ExecutorCallError,
  type Helper,
  RECORD_SIZE,
  type SpawnHandles,
} from "./executor.ts";

export const EXECUTOR_ABI_VERSION = 5;

/**
 * Four symbols, not one per function: Deno compiles a trampoline for each
 * symbol it binds, about 0.3 ms apiece, which every `nsbuild run` paid
 * before its sandbox started. nsb_call multiplexes the synchronous calls
 * (ffi/call.c); nsb_wait and nsb_wait_exit block, so they run off the JS
 * thread.
 */
export const SYMBOLS = {
  /** int32_t nsb_call(int32_t call, int32_t a, int32_t b, const uint8_t *in,
   *                   uint32_t in_len, uint8_t *out, uint32_t out_len) */
  nsb_call: {
    parameters: ["i32", "i32", "i32", "buffer", "u32", "buffer", "u32"],
    result: "i32",
  },
  /** int32_t nsb_wait(int32_t pid, int32_t *status) */
  nsb_wait: { parameters: ["i32", "buffer"], result: "i32", nonblocking: true },
  /** int32_t nsb_wait_exit(int32_t fd, uint8_t *buf, uint32_t len) */
  nsb_wait_exit: { parameters: ["i32", "buffer", "u32"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** The operations of nsb_call, as ffi/executor.h numbers them. */
export const Call = {
  AbiVersion: 1,
  Validate: 2,
  Spawn: 3,
  RunHelpers: 4,
  WriteMaps: 5,
  OpenUserns: 6,
  Release: 7,
  ReadRecords: 8,
  Kill: 9,
  Close: 10,
  Mkfifo: 11,
} as const;

/** Every executor since ABI 1 exports this, so an old library can be told apart. */
const ABI_SYMBOL = {
  nsb_abi_version: { parameters: [], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Library = Deno.DynamicLibrary<typeof SYMBOLS>;

export const LIBRARY_NAME = "libnsbuild_executor.so";

export class ExecutorLoadError extends Error {
  override name = "ExecutorLoadError";
}

export function checkoutLibraryPath(): string {
  return new URL(`../../ffi/build/${LIBRARY_NAME}`, import.meta.url).pathname;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const LIBC_SYMBOLS = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const MFD_CLOEXEC = 1;

function abiMismatch(abi: number): ExecutorLoadError {
  return new ExecutorLoadError(
    `the executor library speaks ABI ${abi}, nsbuild expects ${EXECUTOR_ABI_VERSION}: ` +
      "rebuild it with `deno task setup`",
  );
}

/** Binds the executor's symbols; a library too old to have them says which ABI it speaks. */
export function bindExecutor(path: string): Library {
  try {
    return Deno.dlopen(path, SYMBOLS);
  } catch (cause) {
    let abi: number | undefined;
    try {
      const old = Deno.dlopen(path, ABI_SYMBOL);
      abi = old.symbols.nsb_abi_version();
      old.close();
    } catch {
      // Not an executor at all: the first error says why.
    }
    if (abi !== undefined && abi !== EXECUTOR_ABI_VERSION) throw abiMismatch(abi);
    throw cause;
  }
}

/** Opens a shared library from bytes through a memfd. */
export function openFromBytes(bytes: Uint8Array): Library {
  const libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  try {
    const fd = libc.symbols.memfd_create(
      new TextEncoder().encode("nsbuild-executor\0"),
      MFD_CLOEXEC,
    );
    if (fd < 0) throw new ExecutorLoadError("memfd_create failed for the embedded executor");
    try {
      let written = 0;
      while (written < bytes.length) {
        const n = Number(
          libc.symbols.write(fd, bytes.subarray(written), BigInt(bytes.length - written)),
        );
        if (n <= 0) {
          throw new ExecutorLoadError("writing the embedded executor into a memfd failed");
        }
        written += n;
      }
      return bindExecutor(`/proc/self/fd/${fd}`);
    } finally {
      libc.symbols.close(fd);
    }
  } finally {
    libc.close();
  }
}

function openLibrary(): Library {
  const explicit = Deno.env.get("NSBUILD_EXECUTOR");
  const path = explicit ?? checkoutLibraryPath();
  try {
    if (Deno.build.standalone && !explicit) return openFromBytes(Deno.readFileSync(path));
    if (!explicit && !exists(path)) {
      throw new ExecutorLoadError(
        `the executor library ${path} is missing: run \`deno task setup\` to build it`,
      );
    }
    return bindExecutor(path);
  } catch (cause) {
    if (cause instanceof ExecutorLoadError) throw cause;
    throw new ExecutorLoadError(
      `cannot load the executor library ${path}: ${(cause as Error).message}; ` +
        "rebuild it with `deno task setup`",
      { cause },
    );
  }
}

const NONE = 0;

export class FfiExecutor implements Executor {
  constructor(private readonly lib: Library) {
    const abi = this.call(Call.AbiVersion);
    if (abi !== EXECUTOR_ABI_VERSION) throw abiMismatch(abi);
  }

  private call(
    call: number,
    a = NONE,
    b = NONE,
    input: Uint8Array | null = null,
    output: Uint8Array | null = null,
  ): number {
    return this.lib.symbols.nsb_call(
      call,
      a,
      b,
      input,
      input?.length ?? 0,
      output,
      output?.length ?? 0,
    );
  }

  validate(plan: Uint8Array): number {
    return this.call(Call.Validate, NONE, NONE, plan);
  }

  spawn(plan: Uint8Array): SpawnHandles {
    const out = new Int32Array(3);
    const rc = this.call(Call.Spawn, NONE, NONE, plan, new Uint8Array(out.buffer));
    if (rc < 0) throw new ExecutorCallError("nsb_spawn", -rc);
    return { pid: out[0]!, syncFd: out[1]!, reportFd: out[2]! };
  }

  runHelpers(pid: number, helpers: Helper[]): number {
    return this.call(Call.RunHelpers, pid, NONE, encodeHelpers(helpers));
  }

  writeMaps(pid: number, uidMap: string, gidMap: string, denySetgroups: boolean): number {
    const maps = new TextEncoder().encode(`${uidMap}\0${gidMap}`);
    return this.call(Call.WriteMaps, pid, denySetgroups ? 1 : 0, maps);
  }

  openUserns(pid: number): number {
    return this.call(Call.OpenUserns, pid);
  }

  release(syncFd: number, go: boolean): void {
    const rc = this.call(Call.Release, syncFd, go ? 1 : 0);
    if (rc < 0) throw new ExecutorCallError("nsb_release", -rc);
  }

  async wait(pid: number): Promise<number> {
    const status = new Int32Array(1);
    const rc = await this.lib.symbols.nsb_wait(pid, status);
    if (rc < 0) throw new ExecutorCallError("nsb_wait", -rc);
    return status[0]!;
  }

  async waitExit(reportFd: number): Promise<ExecRecord[]> {
    const buf = new Uint8Array(RECORD_SIZE * 64);
    const n = await this.lib.symbols.nsb_wait_exit(reportFd, buf, buf.length);
    if (n < 0) throw new ExecutorCallError("nsb_wait_exit", -n);
    return decodeRecords(buf.subarray(0, n));
  }

  readRecords(reportFd: number): ExecRecord[] {
    const buf = new Uint8Array(RECORD_SIZE * 64);
    const n = this.call(Call.ReadRecords, reportFd, NONE, null, buf);
    this.call(Call.Close, reportFd);
    if (n < 0) throw new ExecutorCallError("nsb_read_records", -n);
    return decodeRecords(buf.subarray(0, n));
  }

  kill(pid: number, signal: number): void {
    this.call(Call.Kill, pid, signal);
  }

  mkfifo(path: string, mode: number): void {
    const rc = this.call(Call.Mkfifo, mode, NONE, new TextEncoder().encode(`${path}\0`));
    if (rc < 0) throw new ExecutorCallError("mkfifo", -rc);
  }

  close(): void {
    this.lib.close();
  }
}

let shared: FfiExecutor | undefined;

/** The process-wide executor, loaded on first use. */
export function loadExecutor(): FfiExecutor {
  shared ??= new FfiExecutor(openLibrary());
  return shared;
}
