/**
 * `nsbuild verify`: the recipe built twice with no layer in common, build a
 * as the caller runs nsbuild and build b, a child nsbuild, under every
 * variation of the host side the plan lists (src/verify/variations.ts),
 * then the two outputs compared file by file. The base and the sources are
 * inputs, fetched once and shared; each build's layers, runs and
 * temporaries live in a private directory of the store's tmp/ (the same
 * filesystem, so layers are renamed into place as usual), removed at the
 * end whatever happens.
 */
import { joinPath as join } from "../util/path.ts";
import { findProgram } from "../util/which.ts";
import type { Executor } from "../sandbox/executor.ts";
import { acquireLock } from "../store/lock.ts";
import { ensureLayout, type StoreLayout } from "../store/layout.ts";
import { createTemp, finishTemp } from "../store/temp.ts";
import { removeTrees } from "../store/remove.ts";
import { hostDebianArch } from "../base/arch.ts";
import { resolveBase } from "../base/resolve.ts";
import {
  baseRefOf,
  build,
  EXIT_BUILD_FAILED,
  EXIT_INTERRUPTED,
  type LoadedRecipeLike,
} from "../build/build.ts";
import type { ProgressSink } from "../build/progress.ts";
import { prepareSources, type SourceSpec } from "../build/sources.ts";
import { type BuildSide, sideLayout, sideRecipe } from "./side.ts";
import {
  type DisorderTools,
  disorderTools,
  mountView,
  unmountView,
  ViewError,
} from "./disorder.ts";
import { MIN_START_GAP_MS, parseCpuList, planVariations, type Variation } from "./variations.ts";
import { compareTrees, type Comparison } from "./compare.ts";
import { runChildBuild } from "./child.ts";

export interface VerifyOptions {
  loaded: LoadedRecipeLike;
  layout: StoreLayout;
  executor: () => Executor;
  /** How to start nsbuild itself: build b runs `SELF build …`. */
  self: string[];
  /** The caller's environment: build a's, and the start of build b's. */
  env: Record<string, string>;
  /** Keep the two outputs here, as DIR/a and DIR/b (absolute). */
  keep?: string;
  progressA: ProgressSink;
  progressB: ProgressSink;
  /** A line of verify's own progress. */
  note: (line: string) => void;
  signal: AbortSignal;
}

export type VerifyStatus = "reproducible" | "differs" | "build-failed" | "interrupted";

export interface BuildSummary {
  status: number;
  seconds: number;
  /** Why it failed, when the progress display could not say (the child's last words). */
  failure?: string[];
}

export interface VerifyReport {
  recipe: string;
  status: VerifyStatus;
  variations: Variation[];
  builds: { a: BuildSummary; b?: BuildSummary };
  comparison?: Comparison;
  kept?: { a: string; b: string };
}

/** The exit status a report stands for. */
export function exitStatus(report: VerifyReport): number {
  switch (report.status) {
    case "reproducible":
      return 0;
    case "interrupted":
      return EXIT_INTERRUPTED;
    default:
      return EXIT_BUILD_FAILED;
  }
}

/** The CPUs this process may run on, as `taskset -pc` tells (Deno keeps /proc/self from us). */
async function affinity(taskset: string | undefined): Promise<number[]> {
  if (!taskset) return [];
  try {
    const out = await new Deno.Command(taskset, {
      args: ["-pc", String(Deno.pid)],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = new TextDecoder().decode(out.stdout).match(/:\s*([0-9,-]+)\s*$/);
    return out.success && m ? parseCpuList(m[1]!) : [];
  } catch {
    return [];
  }
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Where Deno keeps its compiled modules for the caller: build b keeps using it. */
function denoDir(env: Record<string, string>): string | undefined {
  if (env.DENO_DIR) return env.DENO_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "deno");
  if (env.HOME) return join(env.HOME, ".cache", "deno");
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const id = setTimeout(done, ms);
    function done() {
      clearTimeout(id);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** The views both builds read their sources through: source directory → mountpoint. */
interface Views {
  tools: DisorderTools;
  /** Source directory → mountpoint, the store's sources/ first. */
  targets: [string, string][];
  mounted: string[];
}

async function mountAll(views: Views, reverse: boolean): Promise<void> {
  for (const [source, mountpoint] of views.targets) {
    await mountView(views.tools, source, mountpoint, reverse);
    views.mounted.push(mountpoint);
  }
}

async function unmountAll(views: Views | undefined): Promise<void> {
  if (!views) return;
  const errors: string[] = [];
  while (views.mounted.length) {
    const mountpoint = views.mounted.pop()!;
    await unmountView(views.tools, mountpoint).catch((e) => errors.push((e as Error).message));
  }
  if (errors.length) throw new ViewError(errors.join("; "));
}

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const { layout, loaded, signal, note } = options;
  const recipe = loaded.recipe;
  ensureLayout(layout);
  // Shared, for the whole run: prune must not take the base or the sources meanwhile.
  const storeLock = await acquireLock(
    layout.locks,
    "store",
    () => note("waiting for `nsbuild cache prune` to finish"),
    false,
  );
  let temp: Awaited<ReturnType<typeof createTemp>> | undefined;
  let views: Views | undefined;
  try {
    // Inputs first, once, in the store itself: both builds then find them ready.
    await resolveBase(baseRefOf(recipe), {
      layout,
      executor: options.executor,
      arch: hostDebianArch(),
      progress: note,
    });
    const sources = await prepareSources({
      layout,
      sources: (recipe.sources ?? []) as SourceSpec[],
      note,
      recipeLabel: loaded.file,
    });

    temp = await createTemp(layout.tmp, "verify");
    const dir = temp.dir;
    const mk = (...parts: string[]) => {
      const path = join(dir, ...parts);
      Deno.mkdirSync(path, { recursive: true, mode: 0o700 });
      return path;
    };
    const storeA = mk("a", "store");
    const storeB = mk("b", "store");
    const homeB = mk("b", "home");
    const pathDirB = mk("b", "bin");
    const outA = options.keep ? join(options.keep, "a") : join(dir, "a", "out");
    const outB = options.keep ? join(options.keep, "b") : join(dir, "b", "out");

    // Directory order: both builds read the sources through views mounted at the same
    // paths (so nothing else differs), a's in stored order, b's reversed.
    let disorder: { ok: true } | { ok: false; reason: string } = { ok: true };
    const tools = disorderTools();
    let viewSide: Pick<BuildSide, "sources" | "views"> = {};
    if ("reason" in tools) {
      disorder = { ok: false, reason: tools.reason };
    } else {
      const dirs = sources.filter((s) => !s.inStore && s.directory).map((s) => s.hostPath);
      const targets: [string, string][] = [[layout.sources, mk("views", "0")]];
      dirs.forEach((d, i) => targets.push([d, mk("views", String(i + 1))]));
      views = { tools, targets, mounted: [] };
      try {
        await mountAll(views, false);
        viewSide = {
          sources: targets[0]![1],
          views: Object.fromEntries(targets.slice(1)),
        };
      } catch (e) {
        await unmountAll(views).catch(() => {});
        views = undefined;
        disorder = { ok: false, reason: (e as Error).message };
      }
    }

    const taskset = findProgram("taskset");
    const plan = planVariations({
      storeA,
      storeB,
      homeB,
      pathDirB,
      env: options.env,
      noise: randomHex(8),
      disorder,
      setarch: findProgram("setarch"),
      taskset,
      cpus: await affinity(taskset),
    });
    const report: VerifyReport = {
      recipe: recipe.name,
      status: "reproducible",
      variations: plan.variations,
      builds: { a: { status: 0, seconds: 0 } },
    };

    // Build a: here, as the caller runs nsbuild.
    note(`build a: ${recipe.name} as you run nsbuild, layers in ${storeA}`);
    const sideA: BuildSide = { store: storeA, ...viewSide };
    const startedA = Date.now();
    const a = await build(sideRecipe(loaded, sideA), {
      layout: sideLayout(layout, sideA),
      executor: options.executor,
      progress: options.progressA,
      noCache: true,
      outDir: outA,
      signal,
    }).finally(() => options.progressA.close());
    report.builds.a = { status: a.status, seconds: (Date.now() - startedA) / 1000 };
    await unmountAll(views);
    if (signal.aborted || a.status === EXIT_INTERRUPTED) {
      return { ...report, status: "interrupted" };
    }
    if (a.status !== 0) return { ...report, status: "build-failed" };

    // Build b: a child nsbuild with the host side varied, at least MIN_START_GAP_MS later.
    await sleep(startedA + MIN_START_GAP_MS - Date.now(), signal);
    if (signal.aborted) return { ...report, status: "interrupted" };
    if (views) await mountAll(views, true);
    const sideB: BuildSide = { store: storeB, ...viewSide, clockOffsetSeconds: plan.clockOffsetB };
    note(`build b: ${recipe.name} with the host side varied, layers in ${storeB}`);
    const envB: Record<string, string> = { ...plan.envB, NSBUILD_HOME: layout.root };
    const cache = denoDir(options.env);
    if (cache) envB.DENO_DIR = cache;
    const startedB = Date.now();
    const b = await runChildBuild({
      argv: [
        ...plan.wrapperB,
        ...options.self,
        "build",
        loaded.file,
        "--out",
        outB,
        "--json",
        "--verify-side",
        JSON.stringify(sideB),
      ],
      env: envB,
      onEvent: (e) => options.progressB.event(e),
      onStderr: (line) => options.progressB.event({ type: "note", message: line }),
      signal,
    }).finally(() => options.progressB.close());
    report.builds.b = { status: b.status, seconds: (Date.now() - startedB) / 1000 };
    await unmountAll(views);
    if (signal.aborted || b.status === EXIT_INTERRUPTED) {
      return { ...report, status: "interrupted" };
    }
    if (b.status !== 0) {
      report.builds.b.failure = b.stderrTail;
      return { ...report, status: "build-failed" };
    }

    note("comparing the outputs");
    const comparison = await compareTrees(outA, outB, { diffoscope: findProgram("diffoscope") });
    return {
      ...report,
      status: comparison.differences.length ? "differs" : "reproducible",
      comparison,
      ...(options.keep ? { kept: { a: outA, b: outB } } : {}),
    };
  } finally {
    let unmounted = true;
    try {
      await unmountAll(views);
    } catch (e) {
      // A view still mounted must not be walked by rm: its directory stays for prune.
      unmounted = false;
      note(`${(e as Error).message}; left ${temp?.dir} in place`);
    }
    try {
      if (temp && unmounted) await removeTrees(layout.root, [temp.dir], options.executor);
    } finally {
      if (temp) finishTemp(temp.dir, temp.lock);
      storeLock.release();
    }
  }
}
