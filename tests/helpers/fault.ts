/**
 * Helpers for the fault suite (tests/fault_test.ts): a seeded random number
 * generator, a watch over the processes an nsbuild starts (so that none may
 * survive its SIGKILL), a check that a store holds only complete entries,
 * and a runner for `bin/nsbuild` against a store the caller chooses.
 */
import { join } from "node:path";
import { NSBUILD_BIN } from "./rootfs.ts";
import { descendants, processTable } from "./proc.ts";

// ---------------------------------------------------------------------------
// Seeded randomness

/** A seed from NSBUILD_FAULT_SEED (to replay a run) or a fresh one; printed either way. */
export function faultSeed(): number {
  const given = Deno.env.get("NSBUILD_FAULT_SEED");
  if (given !== undefined && given.trim() !== "") {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`NSBUILD_FAULT_SEED must be an integer from 0 to 4294967295, got "${given}"`);
    }
    console.log(`fault seed ${seed} (from NSBUILD_FAULT_SEED)`);
    return seed;
  }
  const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  console.log(`fault seed ${seed} (replay with NSBUILD_FAULT_SEED=${seed})`);
  return seed;
}

/** mulberry32: a small, well-mixed 32-bit generator; the same seed gives the same numbers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------
// Processes

/** The start time of pid (clock ticks since boot), which tells a reused pid apart. */
export function startTime(pid: number): string | undefined {
  let stat;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces and parentheses).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // state is field 3, starttime field 22: index 0 and 19 here.
  if (fields[0] === "Z") return undefined;
  return fields[19];
}

export interface WatchedProcess {
  pid: number;
  start: string;
  argv: string[];
}

/**
 * Every process seen below one pid: sampled while it runs, so those that
 * are reparented when it dies are still known afterwards.
 */
export class ProcessWatch {
  readonly seen = new Map<string, WatchedProcess>();

  constructor(readonly root: number) {}

  sample(): void {
    for (const p of descendants(this.root)) {
      const start = startTime(p.pid);
      if (start !== undefined) {
        this.seen.set(`${p.pid}@${start}`, { pid: p.pid, start, argv: p.argv });
      }
    }
  }

  /** Those seen that still live (same pid, same start time, not a zombie). */
  survivors(): WatchedProcess[] {
    return [...this.seen.values()].filter((p) => startTime(p.pid) === p.start);
  }
}

/** Live processes with an argument that contains marker (a step's script, its sleep). */
export function processesMentioning(marker: string): { pid: number; argv: string[] }[] {
  return processTable()
    .filter((p) => p.state !== "Z" && p.argv.some((a) => a.includes(marker)))
    .map((p) => ({ pid: p.pid, argv: p.argv }));
}

// ---------------------------------------------------------------------------
// Store consistency

function names(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

function isDir(path: string): boolean {
  try {
    return Deno.lstatSync(path).isDirectory;
  } catch {
    return false;
  }
}

function parseJson(path: string): Record<string, unknown> | string {
  let text;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    return `cannot read ${path}: ${(e as Error).message}`;
  }
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null) return `${path} is not a JSON object`;
    return value as Record<string, unknown>;
  } catch (e) {
    return `${path} is not valid JSON (half written?): ${(e as Error).message}`;
  }
}

const DIGEST = /^[0-9a-f]{16,64}$/;

/** What a complete entry of each kind holds: its metadata file and the tree it describes. */
const ENTRY_SHAPE = {
  bases: { meta: "base.json", tree: "rootfs", own: "digest" },
  layers: { meta: "layer.json", tree: "upper", own: "key" },
  sources: { meta: "source.json", tree: undefined, own: undefined },
} as const;

/**
 * Every way the store at home is inconsistent: an entry without its
 * metadata, or with metadata that does not parse or names another entry, or
 * without its tree, or with a build's leftovers in it; a reference or build
 * record that does not parse or needs an entry that is not there; a stray
 * file among the records. Empty when the store is consistent.
 */
export function storeProblems(home: string): string[] {
  const problems: string[] = [];
  const present = new Set<string>();
  for (const [kind, shape] of Object.entries(ENTRY_SHAPE)) {
    for (const name of names(join(home, kind))) {
      const dir = join(home, kind, name);
      if (!DIGEST.test(name)) {
        problems.push(`${kind}/${name}: not an entry name (a temporary left in place?)`);
        continue;
      }
      if (!isDir(dir)) {
        problems.push(`${kind}/${name}: not a directory`);
        continue;
      }
      const meta = parseJson(join(dir, shape.meta));
      if (typeof meta === "string") {
        problems.push(`${kind}/${name}: incomplete entry: ${meta}`);
        continue;
      }
      if (shape.own && meta[shape.own] !== name) {
        problems.push(`${kind}/${name}: ${shape.meta} names ${String(meta[shape.own])}`);
      }
      if (shape.tree && !isDir(join(dir, shape.tree))) {
        problems.push(`${kind}/${name}: incomplete entry: no ${shape.tree}/`);
      }
      for (const leftover of ["output.fifo", "in.fifo", "tar.log"]) {
        if (names(dir).includes(leftover)) {
          problems.push(`${kind}/${name}: holds ${leftover}, a leftover of its making`);
        }
      }
      present.add(`${kind}/${name}`);
    }
  }
  for (const sub of ["refs", "builds"]) {
    for (const name of names(join(home, sub))) {
      const path = join(home, sub, name);
      if (!name.endsWith(".json")) {
        problems.push(`${sub}/${name}: a stray file among the records (a half-written record?)`);
        continue;
      }
      const record = parseJson(path);
      if (typeof record === "string") {
        problems.push(`${sub}/${name}: ${record}`);
        continue;
      }
      const needs = sub === "refs"
        ? [{ kind: record.kind === "sources" ? "sources" : "bases", digest: record.digest }]
        : (record.needs as { kind: string; digest: string }[] | undefined) ?? [];
      for (const need of needs) {
        if (!present.has(`${need.kind}/${need.digest}`)) {
          problems.push(`${sub}/${name}: needs ${need.kind}/${need.digest}, which is not there`);
        }
      }
    }
  }
  return problems;
}

/** What the store's tmp/ holds that a living process still builds, or that is not a temporary. */
export async function liveOrStrangeTemps(home: string): Promise<string[]> {
  const tmp = join(home, "tmp");
  const out: string[] = [];
  for (const name of names(tmp)) {
    const match = /^([a-z]+)-(\d+)-[0-9a-f]{12}(\.lock)?$/.exec(name);
    if (!match) {
      out.push(`tmp/${name}: not a temporary's name`);
      continue;
    }
    if (match[3]) continue; // judged with its directory, or on its own below
    const lockPath = join(tmp, `${name}.lock`);
    let file;
    try {
      file = await Deno.open(lockPath, { read: true, write: true });
    } catch {
      continue; // no lock file: nobody can be building it
    }
    try {
      if (!(await file.tryLock(true))) out.push(`tmp/${name}: its builder's lock is still held`);
    } finally {
      file.close();
    }
  }
  return out;
}

/** The names in home/sub, sorted (none when it does not exist). */
export function storeNames(home: string, sub: string): string[] {
  return names(join(home, sub));
}

// ---------------------------------------------------------------------------
// Running nsbuild against a chosen store

/** Host variables nsbuild (Deno) itself needs; nothing else of the test's environment. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NSBUILD_EXECUTOR"];

export interface Outcome {
  args: string[];
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

export function describeOutcome(r: Outcome): string {
  return `nsbuild ${r.args.join(" ")}: status ${r.code}${r.signal ? ` (${r.signal})` : ""}\n` +
    `stdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** One `bin/nsbuild ARGS` with NSBUILD_HOME=home, killed after limitMs (then `result` rejects). */
export class Nsbuild {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly result: Promise<Outcome>;
  exited = false;

  constructor(
    readonly args: string[],
    home: string,
    options: { cwd?: string; limitMs?: number } = {},
  ) {
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    env.NSBUILD_HOME = home;
    this.child = new Deno.Command(NSBUILD_BIN, {
      args,
      env,
      clearEnv: true,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.child.pid;
    let timedOut = false;
    const limitMs = options.limitMs ?? 60_000;
    const timer = setTimeout(() => {
      timedOut = true;
      this.kill("SIGKILL");
    }, limitMs);
    this.result = this.child.output().then((out) => {
      clearTimeout(timer);
      this.exited = true;
      const decoder = new TextDecoder();
      const outcome = {
        args,
        code: out.code,
        signal: out.signal,
        stdout: decoder.decode(out.stdout),
        stderr: decoder.decode(out.stderr),
      };
      if (timedOut) {
        throw new Error(
          `killed after its time limit of ${limitMs} ms\n${describeOutcome(outcome)}`,
        );
      }
      return outcome;
    });
  }

  kill(signal: Deno.Signal): void {
    if (this.exited) return;
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

export function runNsbuild(
  args: string[],
  home: string,
  options: { cwd?: string; limitMs?: number } = {},
): Promise<Outcome> {
  return new Nsbuild(args, home, options).result;
}

// ---------------------------------------------------------------------------
// This process

/** How many descriptors this process has open (the listing's own one included, every time). */
export function openDescriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** This process's resident set, in bytes, from /proc/self/status. */
export function residentBytes(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error("no VmRSS line in /proc/self/status");
  return Number(kb) * 1024;
}
