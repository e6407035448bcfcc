/**
 * What the sandbox runner needs from the executor. The real one is the C
 * library behind FFI (executor_ffi.ts); tests use a recording fake, so the
 * planner and the error paths are exercised without namespaces.
 */

export interface SpawnHandles {
  /** The monitor's pid on the host. */
  pid: number;
  /** Write end of the go pipe; -1 when the plan joins a user namespace. */
  syncFd: number;
  /** Read end of the report pipe. */
  reportFd: number;
}

export const RecordKind = {
  SetupFailed: 1,
  ExecFailed: 2,
  CleanupFailed: 3,
  /** The command's status, sent before the monitor cleans up. */
  Exited: 4,
} as const;

/** Protocol steps around the ops, reported with negative op indexes. */
export const Step: Record<number, string> = {
  [-1]: "waiting for the id maps",
  [-2]: "joining the user namespace",
  [-3]: "becoming root in the user namespace",
  [-4]: "creating the sandbox namespaces",
  [-5]: "closing inherited descriptors",
  [-6]: "starting the command",
  [-7]: "starting a new session",
  [-8]: "setting no_new_privs",
  [-9]: "setting the parent-death signal",
  [-10]: "opening the sandbox's pseudo-terminal",
  [-11]: "unlocking the sandbox's pseudo-terminal",
  [-12]: "opening the command's end of the pseudo-terminal",
  [-13]: "copying the terminal's settings to the pseudo-terminal",
  [-14]: "making the pseudo-terminal the command's controlling terminal",
  [-15]: "connecting the command's stdin, stdout and stderr to the pseudo-terminal",
  [-16]: "setting up init's signal relay",
  [-17]: "creating the time namespace and setting its clock offsets",
};

export const StepSyscall: Record<number, string> = {
  [-1]: "read(sync pipe)",
  [-2]: "setns(CLONE_NEWUSER)",
  [-3]: "setresuid",
  [-4]: "clone",
  [-5]: "close_range",
  [-6]: "fork",
  [-7]: "setsid",
  [-8]: "prctl(PR_SET_NO_NEW_PRIVS)",
  [-9]: "prctl(PR_SET_PDEATHSIG)",
  [-10]: "open(/dev/ptmx)",
  [-11]: "ioctl(TIOCSPTLCK)",
  [-12]: "ioctl(TIOCGPTPEER)",
  [-13]: "tcsetattr",
  [-14]: "ioctl(TIOCSCTTY)",
  [-15]: "dup2",
  [-16]: "signalfd",
  [-17]: "unshare(CLONE_NEWTIME)",
};

export interface ExecRecord {
  kind: number;
  opIndex: number;
  errno: number;
  value: number;
}

export interface Executor {
  /** Validates the plan; 0 or a negative errno. */
  validate(plan: Uint8Array): number;
  /** Clones the monitor. Throws ExecutorCallError on failure. */
  spawn(plan: Uint8Array): SpawnHandles;
  /**
   * Runs id-map helpers (newuidmap, newgidmap) for a pid, in parallel: 0, or
   * (index + 1) << 8 | exit status of the first that failed, or -errno.
   */
  runHelpers(pid: number, helpers: Helper[]): number;
  /**
   * Writes /proc/PID/{setgroups,uid_map,gid_map} directly (Deno refuses
   * /proc writes without --allow-all): 0, or -(step << 16 | errno) with
   * step 1 setgroups, 2 uid_map, 3 gid_map.
   */
  writeMaps(pid: number, uidMap: string, gidMap: string, denySetgroups: boolean): number;
  /** Opens /proc/PID/ns/user, so later sandboxes can join it; -errno on failure. */
  openUserns(pid: number): number;
  /** Lets a monitor waiting for its id maps go on (or give up). */
  release(syncFd: number, go: boolean): void;
  /** Waits for the monitor; resolves to the sandbox's exit status. */
  wait(pid: number): Promise<number>;
  /**
   * Reads records until the one with the command's status (RecordKind.Exited)
   * or end of file; the descriptor stays open for readRecords().
   */
  waitExit(reportFd: number): Promise<ExecRecord[]>;
  /** Reads every record until end of file, and closes the descriptor. */
  readRecords(reportFd: number): ExecRecord[];
  kill(pid: number, signal: number): void;
  /** Creates a FIFO (for a sandbox's stdio); throws ExecutorCallError. */
  mkfifo(path: string, mode: number): void;
}

export interface Helper {
  path: string;
  /** The arguments after the pid. */
  args: string[];
}

export const RECORD_SIZE = 16;

/** Encodes helpers for nsb_run_helpers: strings NUL-terminated, each helper closed by "". */
export function encodeHelpers(helpers: Helper[]): Uint8Array {
  const text = helpers.map((h) => [h.path, ...h.args].map((s) => `${s}\0`).join("") + "\0").join(
    "",
  );
  return new TextEncoder().encode(text);
}

export function decodeRecords(bytes: Uint8Array): ExecRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: ExecRecord[] = [];
  for (let at = 0; at + RECORD_SIZE <= bytes.length; at += RECORD_SIZE) {
    records.push({
      kind: view.getInt32(at, true),
      opIndex: view.getInt32(at + 4, true),
      errno: view.getInt32(at + 8, true),
      value: view.getInt32(at + 12, true),
    });
  }
  return records;
}

/** A failed call into the executor from the parent (before any child ran). */
export class ExecutorCallError extends Error {
  override name = "ExecutorCallError";
  constructor(readonly call: string, readonly errno: number) {
    super(`${call} failed with errno ${errno}`);
  }
}
