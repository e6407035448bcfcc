/**
 * Runs one sandbox: plan, encode, spawn through the executor, write the id
 * maps, forward signals, wait, and turn failure records into typed errors.
 */
import { encodePlan } from "./encode.ts";
import { type Executor, ExecutorCallError, RecordKind } from "./executor.ts";
import { opError, SandboxError, spawnError } from "./errors.ts";
import { errnoText } from "./errno.ts";
import { type IdMapPlan, mapsId, planIdMaps, userNameFor } from "./idmap.ts";
import { applyIdMaps } from "./idmap_apply.ts";
import { planSandbox } from "./plan.ts";
import { defaultFilter } from "./seccomp.ts";
import type { SandboxSpec } from "./spec.ts";
import type { Op } from "./ops.ts";

export const EXIT_SETUP_FAILED = 125;
export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;

export type SandboxRequest = Omit<SandboxSpec, "usernsFd" | "ttyGroupMapped"> & {
  /** Join this process's shared user namespace (the default) or make a new one. */
  reuseUserNamespace?: boolean;
  /** Ends the sandbox at once (SIGKILL to its monitor, which ends everything inside). */
  signal?: AbortSignal;
  /**
   * Return as soon as the command's status is known, while the monitor
   * removes the run directory and exits (SandboxResult.cleanup). Build steps
   * run one after another: the next starts while the last is cleaned up.
   */
  cleanupInBackground?: boolean;
};

/** The host terminal nsbuild's stdin is, when the sandbox gets a terminal. */
export interface HostTerminal {
  setRaw(mode: boolean): void;
}

export interface SandboxResult {
  /** The command's status, 128+N for signal N, 125/126/127 as documented. */
  status: number;
  /** Why the command never ran, when it did not. */
  error?: SandboxError | CommandError;
  /** A cleanup problem worth a warning (the run directory could not be removed). */
  warning?: string;
  /**
   * With cleanupInBackground: the monitor's cleanup, still under way when
   * the result arrives; resolves to its warning, if any.
   */
  cleanup?: Promise<string | undefined>;
}

const cleanups = new Set<Promise<unknown>>();

function track<T>(cleanup: Promise<T>): Promise<T> {
  cleanups.add(cleanup);
  const forget = () => cleanups.delete(cleanup);
  cleanup.then(forget, forget);
  return cleanup;
}

/**
 * Resolves when every sandbox's monitor has removed its run directory and
 * exited: a process awaits it before it exits, so nothing is left behind.
 */
export async function sandboxCleanups(): Promise<void> {
  while (cleanups.size) await Promise.all(cleanups);
}

/** The command could not be executed (126) or found (127). */
export class CommandError extends Error {
  override name = "CommandError";
  constructor(readonly command: string, readonly errno: number, readonly status: number) {
    super(
      status === EXIT_NOT_FOUND
        ? `${command}: command not found in the sandbox (searched its PATH; give a full path inside the rootfs)`
        : `${command}: cannot execute: ${errnoText(errno)}`,
    );
  }
}

let cachedIdMaps: IdMapPlan | undefined;

/**
 * The user namespace of this process's first sandbox, kept open so later
 * sandboxes join it instead of paying for newuidmap/newgidmap again (about
 * 3 ms each time). Every sandbox still gets its own mount, PID, network, UTS,
 * IPC and cgroup namespaces, which is what keeps them apart.
 */
let sharedUserns = -1;

function readOr(path: string, fallback: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

let singleIdMapAccepted = false;

/**
 * The user passed --single-id: without subordinate ids, run with only root
 * mapped (chown to other ids fails inside) instead of refusing.
 */
export function acceptSingleIdMap(): void {
  singleIdMapAccepted = true;
}

/** Refused unless accepted: a build must never get weaker isolation in silence. */
export class DegradedIsolationError extends Error {
  override name = "DegradedIsolationError";
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/**
 * This process's id map plan, read once. Without subordinate ids it is
 * refused, unless acceptSingleIdMap() was called (then it warns once).
 */
export function currentIdMaps(): IdMapPlan {
  if (cachedIdMaps) {
    const refusal = refuseDegraded(cachedIdMaps, singleIdMapAccepted);
    if (refusal) throw refusal;
  }
  if (!cachedIdMaps) {
    const uid = Deno.uid() ?? 0;
    const gid = Deno.gid() ?? 0;
    const user = userNameFor(readOr("/etc/passwd", ""), uid) ?? Deno.env.get("USER");
    cachedIdMaps = planIdMaps(
      { uid, gid, user },
      readOr("/etc/subuid", ""),
      readOr("/etc/subgid", ""),
    );
    const refusal = refuseDegraded(cachedIdMaps, singleIdMapAccepted);
    if (refusal) throw refusal;
    if (cachedIdMaps.warning) console.error(cachedIdMaps.warning);
  }
  return cachedIdMaps;
}

/** Pure: the error for a single-id map the user did not accept, else undefined. */
export function refuseDegraded(
  plan: IdMapPlan,
  accepted: boolean,
): DegradedIsolationError | undefined {
  if (plan.mode !== "single" || accepted) return undefined;
  const [problem, fix] = (plan.warning ?? "").replace(/^nsbuild: warning: /, "").split(
    "; fix with ",
  );
  return new DegradedIsolationError(
    `${problem}; refusing to build with only root mapped`,
    `fix with ${fix ?? "subordinate ids in /etc/subuid and /etc/subgid"}; ` +
      "or pass --single-id to accept it",
  );
}

const FORWARDED: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const SIGKILL = 9;
const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

function describeRecords(ops: Op[], records: ReturnType<Executor["readRecords"]>, argv0: string) {
  let error: SandboxError | CommandError | undefined;
  let warning: string | undefined;
  for (const rec of records) {
    if (rec.kind === RecordKind.SetupFailed && !error) error = opError(ops, rec.opIndex, rec.errno);
    if (rec.kind === RecordKind.ExecFailed && !error) {
      const notFound = rec.errno === 2 || rec.errno === 20;
      error = new CommandError(argv0, rec.errno, notFound ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE);
    }
    if (rec.kind === RecordKind.CleanupFailed) {
      warning = `could not remove the run directory: ${errnoText(rec.errno)}; ` +
        "`nsbuild cache prune` removes what is left";
    }
  }
  return { error, warning };
}

/** Fixes ownership so that mapped root can use the run directory (only when root runs nsbuild). */
/**
 * Who must own a run directory and the runs/ directory above it: the
 * monitor removes the run directory as mapped root, which is not the caller
 * when root runs nsbuild. Undefined when the caller is mapped root already.
 */
export function runDirOwner(
  maps: IdMapPlan = currentIdMaps(),
): { uid: number; gid: number } | undefined {
  if ((Deno.uid() ?? 1) !== 0) return undefined;
  return { uid: maps.uidMap[0]!.outside, gid: maps.gidMap[0]!.outside };
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch {
    // Keep the error that brought us here; prune removes what is left.
  }
}

/**
 * Raw mode for the host terminal while a sandbox with a terminal runs: keys
 * (Ctrl-C, Ctrl-Z, Ctrl-D) travel as bytes to the sandbox's pty, whose own
 * line discipline acts on them for the job in its foreground. Returns what
 * undoes it.
 */
function rawMode(terminal: HostTerminal): () => void {
  try {
    terminal.setRaw(true);
  } catch {
    // Still usable cooked: the keys then signal nsbuild, which forwards them.
    return () => {};
  }
  return () => {
    try {
      terminal.setRaw(false);
    } catch {
      // The terminal is gone (hung up): nothing left to restore.
    }
  };
}

export async function runSandbox(
  request: SandboxRequest,
  executor: Executor,
  idMaps: IdMapPlan = currentIdMaps(),
  hostTerminal: HostTerminal = Deno.stdin,
): Promise<SandboxResult> {
  const usernsFd = request.reuseUserNamespace === false ? -1 : sharedUserns;
  let handles, plan;
  try {
    const spec: SandboxSpec = {
      ...request,
      usernsFd,
      ttyGroupMapped: mapsId(idMaps.gidMap, 5),
      seccompProgram: request.seccomp === "off" ? undefined : defaultFilter(request.seccomp?.relax),
    };
    plan = planSandbox(spec);
    const bytes = encodePlan(plan);
    handles = executor.spawn(bytes);
  } catch (e) {
    // No monitor exists yet to remove the run directory: do it here.
    removeQuietly(request.runDir);
    if (e instanceof ExecutorCallError) throw spawnError(e.errno);
    throw e;
  }
  const { pid, syncFd, reportFd } = handles;
  const forward = FORWARDED.map((sig) => {
    const handler = () => executor.kill(pid, SIGNAL_NUMBERS[sig]!);
    Deno.addSignalListener(sig, handler);
    return () => Deno.removeSignalListener(sig, handler);
  });
  const abort = () => executor.kill(pid, SIGKILL);
  request.signal?.addEventListener("abort", abort);
  if (request.signal?.aborted) abort();
  forward.push(() => request.signal?.removeEventListener("abort", abort));
  // Only after spawn: the executor copied the cooked settings for the
  // sandbox's pty from the host terminal before it returned.
  const restoreTerminal = plan.terminal ? rawMode(hostTerminal) : () => {};
  try {
    if (syncFd >= 0) {
      try {
        applyIdMaps(pid, idMaps, executor);
      } catch (e) {
        executor.release(syncFd, false);
        await executor.wait(pid);
        executor.readRecords(reportFd);
        // Unmapped, the monitor may lack the right to remove the (empty) run directory.
        removeQuietly(request.runDir);
        throw e;
      }
      // Opened while the monitor still waits, so it surely exists.
      if (sharedUserns < 0 && request.reuseUserNamespace !== false) {
        const fd = executor.openUserns(pid);
        if (fd >= 0) sharedUserns = fd;
      }
      executor.release(syncFd, true);
    }
    const early = await executor.waitExit(reportFd);
    const exited = early.find((rec) => rec.kind === RecordKind.Exited);
    // Then the monitor removes the run directory, says if it could not, and exits.
    const settle = async () => {
      const status = await executor.wait(pid);
      return { status, records: [...early, ...executor.readRecords(reportFd)] };
    };
    if (exited && request.cleanupInBackground) {
      const { error } = describeRecords(plan.ops, early, request.argv[0]!);
      const cleanup = track(
        settle().then(
          ({ records }) => describeRecords(plan.ops, records, request.argv[0]!).warning,
          (e) => `could not wait for the sandbox's cleanup: ${(e as Error).message}`,
        ),
      );
      if (error instanceof SandboxError) return { status: EXIT_SETUP_FAILED, error, cleanup };
      return { status: error ? error.status : exited.value, error, cleanup };
    }
    const { status, records } = await settle();
    const { error, warning } = describeRecords(plan.ops, records, request.argv[0]!);
    if (error instanceof SandboxError) return { status: EXIT_SETUP_FAILED, error, warning };
    return { status: error ? error.status : status, error, warning };
  } finally {
    restoreTerminal();
    forward.forEach((remove) => remove());
  }
}
