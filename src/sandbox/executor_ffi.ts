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

export const EXECUTOR_ABI_VERSION = 4;

export const SYMBOLS = {
  /** int32_t nsb_abi_version(void) */
  nsb_abi_version: { parameters: [], result: "i32" },
  /** int32_t nsb_validate(const uint8_t *plan, uint32_t len) */
  nsb_validate: { parameters: ["buffer", "u32"], result: "i32" },
  /** int32_t nsb_spawn(const uint8_t *plan, uint32_t len, int32_t out[3]) */
  nsb_spawn: { parameters: ["buffer", "u32", "buffer"], result: "i32" },
  /** int32_t nsb_run_helpers(int32_t pid, const uint8_t *buf, uint32_t len) */
  nsb_run_helpers: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int32_t nsb_write_maps(int32_t pid, const uint8_t *uid_map, uint32_t uid_len,
   *                         const uint8_t *gid_map, uint32_t gid_len, int32_t deny_setgroups) */
  nsb_write_maps: { parameters: ["i32", "buffer", "u32", "buffer", "u32", "i32"], result: "i32" },
  /** int32_t nsb_open_userns(int32_t pid) */
  nsb_open_userns: { parameters: ["i32"], result: "i32" },
  /** int32_t nsb_release(int32_t sync_fd, int32_t go) */
  nsb_release: { parameters: ["i32", "i32"], result: "i32" },
  /** int32_t nsb_wait(int32_t pid, int32_t *status): blocks, so off the JS thread */
  nsb_wait: { parameters: ["i32", "buffer"], result: "i32", nonblocking: true },
  /** int32_t nsb_read_records(int32_t fd, uint8_t *buf, uint32_t len) */
  nsb_read_records: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int32_t nsb_kill(int32_t pid, int32_t sig) */
  nsb_kill: { parameters: ["i32", "i32"], result: "i32" },
  /** int32_t nsb_close(int32_t fd) */
  nsb_close: { parameters: ["i32"], result: "i32" },
  /** int32_t nsb_mkfifo(const char *path, uint32_t mode) */
  nsb_mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
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
      return Deno.dlopen(`/proc/self/fd/${fd}`, SYMBOLS);
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
    return Deno.dlopen(path, SYMBOLS);
  } catch (cause) {
    if (cause instanceof ExecutorLoadError) throw cause;
    throw new ExecutorLoadError(
      `cannot load the executor library ${path}: ${(cause as Error).message}; ` +
        "rebuild it with `deno task setup`",
      { cause },
    );
  }
}

export class FfiExecutor implements Executor {
  constructor(private readonly lib: Library) {
    const abi = lib.symbols.nsb_abi_version();
    if (abi !== EXECUTOR_ABI_VERSION) {
      throw new ExecutorLoadError(
        `the executor library speaks ABI ${abi}, nsbuild expects ${EXECUTOR_ABI_VERSION}: ` +
          "rebuild it with `deno task setup`",
      );
    }
  }

  validate(plan: Uint8Array): number {
    return this.lib.symbols.nsb_validate(plan, plan.length);
  }

  spawn(plan: Uint8Array): SpawnHandles {
    const out = new Int32Array(3);
    const rc = this.lib.symbols.nsb_spawn(plan, plan.length, out);
    if (rc < 0) throw new ExecutorCallError("nsb_spawn", -rc);
    return { pid: out[0]!, syncFd: out[1]!, reportFd: out[2]! };
  }

  runHelpers(pid: number, helpers: Helper[]): number {
    const buf = encodeHelpers(helpers);
    return this.lib.symbols.nsb_run_helpers(pid, buf, buf.length);
  }

  writeMaps(pid: number, uidMap: string, gidMap: string, denySetgroups: boolean): number {
    const u = new TextEncoder().encode(uidMap), g = new TextEncoder().encode(gidMap);
    return this.lib.symbols.nsb_write_maps(pid, u, u.length, g, g.length, denySetgroups ? 1 : 0);
  }

  openUserns(pid: number): number {
    return this.lib.symbols.nsb_open_userns(pid);
  }

  release(syncFd: number, go: boolean): void {
    const rc = this.lib.symbols.nsb_release(syncFd, go ? 1 : 0);
    if (rc < 0) throw new ExecutorCallError("nsb_release", -rc);
  }

  async wait(pid: number): Promise<number> {
    const status = new Int32Array(1);
    const rc = await this.lib.symbols.nsb_wait(pid, status);
    if (rc < 0) throw new ExecutorCallError("nsb_wait", -rc);
    return status[0]!;
  }

  readRecords(reportFd: number): ExecRecord[] {
    const buf = new Uint8Array(RECORD_SIZE * 64);
    const n = this.lib.symbols.nsb_read_records(reportFd, buf, buf.length);
    this.lib.symbols.nsb_close(reportFd);
    if (n < 0) throw new ExecutorCallError("nsb_read_records", -n);
    return decodeRecords(buf.subarray(0, n));
  }

  kill(pid: number, signal: number): void {
    this.lib.symbols.nsb_kill(pid, signal);
  }

  mkfifo(path: string, mode: number): void {
    const rc = this.lib.symbols.nsb_mkfifo(new TextEncoder().encode(`${path}\0`), mode);
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
