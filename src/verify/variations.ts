/**
 * What `nsbuild verify` varies between its two builds, decided up front from
 * a few facts about the host: pure, so the plan can be printed, put in the
 * JSON report and tested without building anything. Build a runs as the
 * caller ran nsbuild; build b is a child nsbuild whose host side differs in
 * every way listed here while the recipe stays the same.
 */

/** Ten years of 365 days: how far ahead build b's monotonic and boot clocks run. */
export const CLOCK_OFFSET_SECONDS = 10 * 365 * 24 * 60 * 60;

/** Build b starts at least this long after build a did, so second-resolution stamps differ. */
export const MIN_START_GAP_MS = 2_000;

export const B_UMASK = 0o077;
export const B_TIMEZONE = "Pacific/Kiritimati";
export const B_LOCALE = "fr_FR.UTF-8";
export const B_TERM = "vt100";

export interface Variation {
  /** Short, stable: "store-path", "environment", ... */
  id: string;
  /** What it is, for people. */
  label: string;
  varied: boolean;
  /** What build a had, and what build b had instead. */
  a?: string;
  b?: string;
  /** When not varied: why not, and what would make it so. */
  reason?: string;
}

export interface HostFacts {
  /** Build a's and b's private store directories. */
  storeA: string;
  storeB: string;
  /** An empty directory for build b's HOME, and one appended to its PATH. */
  homeB: string;
  pathDirB: string;
  /** The caller's environment (build a's), for the report and for b's. */
  env: Record<string, string>;
  /** Something unguessable for build b's extra variable. */
  noise: string;
  /** Whether directory views can be mounted, or why not. */
  disorder: { ok: true } | { ok: false; reason: string };
  /** setarch's path, to turn address space randomization off in build b. */
  setarch?: string;
  /** taskset's path, to give build b fewer CPUs. */
  taskset?: string;
  /** The CPUs nsbuild may run on (its affinity). */
  cpus: number[];
}

export interface VerifyPlan {
  variations: Variation[];
  /** Build b's environment: the caller's with the varied variables. */
  envB: Record<string, string>;
  /** Put before build b's command: setarch, taskset and the umask, each when varied. */
  wrapperB: string[];
  /** Build b's CPUs, when its affinity is varied. */
  cpusB?: number[];
  clockOffsetB: number;
  /** Whether build b reads its sources with directory entries reversed. */
  disorder: boolean;
}

/** "0-3,6" for [0, 1, 2, 3, 6]: the form taskset -c and /proc/self/status use. */
export function formatCpuList(cpus: number[]): string {
  const sorted = [...new Set(cpus)].sort((x, y) => x - y);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** The inverse of formatCpuList: "0-3,6" → [0, 1, 2, 3, 6]; [] for anything malformed. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(",")) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/);
    if (!m) return [];
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return [];
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return cpus;
}

function shown(value: string | undefined): string {
  return value === undefined ? "unset" : value;
}

export function planVariations(host: HostFacts): VerifyPlan {
  const env = host.env;
  const envB: Record<string, string> = {
    ...env,
    NSBUILD_VERIFY_NOISE: host.noise,
    HOME: host.homeB,
    PATH: `${env.PATH ?? "/usr/bin:/bin"}:${host.pathDirB}`,
    TZ: B_TIMEZONE,
    LANG: B_LOCALE,
    LC_ALL: B_LOCALE,
    LANGUAGE: "fr_FR:fr",
    TERM: B_TERM,
  };
  const wrapperB: string[] = [];
  const variations: Variation[] = [
    {
      id: "store-path",
      label: "store and run path",
      varied: true,
      a: host.storeA,
      b: host.storeB,
    },
    {
      id: "environment",
      label: "the caller's environment variables",
      varied: true,
      a: "the caller's",
      b: `the caller's plus NSBUILD_VERIFY_NOISE=${host.noise}, TERM=${B_TERM}`,
    },
    { id: "home", label: "home directory", varied: true, a: shown(env.HOME), b: host.homeB },
    {
      id: "exec-path",
      label: "PATH",
      varied: true,
      a: "the caller's",
      b: `the caller's with ${host.pathDirB} appended`,
    },
    { id: "timezone", label: "time zone", varied: true, a: shown(env.TZ), b: B_TIMEZONE },
    {
      id: "locale",
      label: "locale",
      varied: true,
      a: `LANG ${shown(env.LANG)}, LC_ALL ${shown(env.LC_ALL)}`,
      b: `LANG and LC_ALL ${B_LOCALE}`,
    },
    {
      id: "umask",
      label: "umask",
      varied: true,
      a: "the caller's",
      b: B_UMASK.toString(8).padStart(4, "0"),
    },
  ];
  variations.push(
    host.disorder.ok
      ? {
        id: "directory-order",
        label: "order of directory entries in the sources",
        varied: true,
        a: "as stored (through disorderfs)",
        b: "reversed (disorderfs --reverse-dirents=yes)",
      }
      : {
        id: "directory-order",
        label: "order of directory entries in the sources",
        varied: false,
        reason: host.disorder.reason,
      },
  );
  variations.push({
    id: "clocks",
    label: "monotonic and boot-time clocks",
    varied: true,
    a: "the host's",
    b: `${CLOCK_OFFSET_SECONDS / (365 * 24 * 3600)} years ahead (a time namespace)`,
  });
  variations.push({
    id: "time",
    label: "wall-clock time",
    varied: true,
    a: "the build's own time",
    b: `after build a, starting at least ${MIN_START_GAP_MS / 1000} s after it did`,
  });
  if (host.setarch) {
    wrapperB.push(host.setarch, "-R");
    variations.push({
      id: "aslr",
      label: "address space layout randomization",
      varied: true,
      a: "the caller's (normally on)",
      b: "off (setarch -R)",
    });
  } else {
    variations.push({
      id: "aslr",
      label: "address space layout randomization",
      varied: false,
      reason: "setarch not installed; apt-get install util-linux",
    });
  }
  let cpusB: number[] | undefined;
  if (host.taskset && host.cpus.length > 1) {
    cpusB = host.cpus.slice(0, Math.max(1, Math.floor(host.cpus.length / 2)));
    wrapperB.push(host.taskset, "-c", formatCpuList(cpusB));
    variations.push({
      id: "cpus",
      label: "number of CPUs",
      varied: true,
      a: `${host.cpus.length} (${formatCpuList(host.cpus)})`,
      b: `${cpusB.length} (${formatCpuList(cpusB)})`,
    });
  } else {
    variations.push({
      id: "cpus",
      label: "number of CPUs",
      varied: false,
      reason: host.cpus.length <= 1
        ? "nsbuild may use one CPU only"
        : "taskset not installed; apt-get install util-linux",
    });
  }
  // Last, so that it applies to nsbuild itself and not to the wrappers.
  wrapperB.push(
    "/bin/sh",
    "-c",
    `umask ${B_UMASK.toString(8).padStart(4, "0")} && exec "$@"`,
    "sh",
  );
  return {
    variations,
    envB,
    wrapperB,
    cpusB,
    clockOffsetB: CLOCK_OFFSET_SECONDS,
    disorder: host.disorder.ok,
  };
}

/**
 * "variations: store-path, environment, …" and, for each one that is not,
 * "; not varied: directory-order — disorderfs not installed; …".
 */
export function describeVariations(variations: Variation[]): string {
  const varied = variations.filter((v) => v.varied).map((v) => v.id);
  const not = variations.filter((v) => !v.varied).map((v) => `; not varied: ${v.id} — ${v.reason}`);
  return `variations: ${varied.join(", ")}${not.join("")}`;
}
