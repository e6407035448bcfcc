/** The host's process table, read from /proc, for finding and checking sandbox processes. */

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The kernel's short name (comm), as in the Name: line of /proc/PID/status. */
  name: string;
  /** "R", "S", "Z", ... */
  state: string;
  argv: string[];
}

function readOrUndefined(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    // The process ended while we looked, or is not ours to read.
    return undefined;
  }
}

/** One process, or undefined when it does not exist (any more). */
export function processInfo(pid: number): ProcessInfo | undefined {
  const status = readOrUndefined(`/proc/${pid}/status`);
  if (status === undefined) return undefined;
  const field = (key: string) => status.match(new RegExp(`^${key}:\\s*(.*)$`, "m"))?.[1] ?? "";
  const cmdline = readOrUndefined(`/proc/${pid}/cmdline`) ?? "";
  return {
    pid,
    ppid: Number(field("PPid")),
    name: field("Name"),
    state: field("State").charAt(0),
    argv: cmdline.split("\0").filter((_, i, all) => i < all.length - 1 || all[i] !== ""),
  };
}

/**
 * Whether pid is a live process. A zombie counts as gone: it has ended and
 * holds nothing; reaping it is its parent's business (an orphan's new parent
 * on the host, e.g. a container's pid 1, may take seconds).
 */
export function isAlive(pid: number): boolean {
  const info = processInfo(pid);
  return info !== undefined && info.state !== "Z";
}

/** Every process this process can see. */
export function processTable(): ProcessInfo[] {
  const table: ProcessInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = processInfo(Number(entry.name));
    if (info) table.push(info);
  }
  return table;
}

/** The descendants of pid (children, their children, ...), not pid itself. */
export function descendants(pid: number): ProcessInfo[] {
  const table = processTable();
  const out: ProcessInfo[] = [];
  const parents = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of table) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

/** Live processes whose argv contains the given argument exactly. */
export function processesWithArg(arg: string): ProcessInfo[] {
  return processTable().filter((p) => p.state !== "Z" && p.argv.includes(arg));
}

/** Kills (SIGKILL) whatever still carries the marker: cleanup after a failed test. */
export function killMarked(arg: string): void {
  for (const p of processesWithArg(arg)) {
    try {
      Deno.kill(p.pid, "SIGKILL");
    } catch {
      // Gone already, or not ours.
    }
  }
}

/** A fresh argument for busybox `sleep` that adds nothing noticeable and is unique. */
export function uniqueSleepMarker(): string {
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b % 10).join("");
  return `0.${digits}`;
}

/** The host's mount table as this process sees it. */
export function hostMountinfo(): string {
  return Deno.readTextFileSync("/proc/self/mountinfo");
}
