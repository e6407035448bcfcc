/**
 * A whole build: the base, the sources, each step in its own sandbox over
 * the layers before it (reusing cached layers), then /out brought home with
 * a manifest. Steps already completed stay in the cache whatever happens
 * after them: a failure or Ctrl-C loses only the step that was running.
 */
import { createHash } from "node:crypto";
import { joinPath as join } from "../util/path.ts";
import type { Executor } from "../sandbox/executor.ts";
import type { BindMount } from "../sandbox/spec.ts";
import { KEPT_CAPABILITIES } from "../sandbox/capabilities.ts";
import { currentIdMaps } from "../sandbox/run.ts";
import { DEFAULT_PATH } from "../sandbox/spec.ts";
import { acquireLock } from "../store/lock.ts";
import { ensureLayout, type StoreLayout } from "../store/layout.ts";
import { hostDebianArch } from "../base/arch.ts";
import { writeJsonAtomic } from "../base/entry.ts";
import type { BaseRef } from "../base/ref.ts";
import { resolveBase, type ResolvedBase } from "../base/resolve.ts";
import { tailOf } from "../base/import.ts";
import type { ExtractedFile } from "../base/tar_extract.ts";
import { DEFAULT_SOURCE_DATE_EPOCH, type Recipe } from "../recipe/types.ts";
import type { ProgressSink } from "./progress.ts";
import { stepKey } from "./key.ts";
import { prepareSources, type ReadySource } from "./sources.ts";
import { hasLayer, layerUpper, runStep, type StepSandbox, touchLayer } from "./step.ts";
import { exportOutputs } from "./export.ts";
import { deriveSourceDateEpoch, type SourceDateEpoch } from "./source_epoch.ts";

export const NSBUILD_VERSION = "0.1.0";
export const EXIT_BUILD_FAILED = 1;
export const EXIT_INTERRUPTED = 130;

export interface LoadedRecipeLike {
  recipe: Recipe;
  /** Absolute path of the recipe file. */
  file: string;
  /** The recipe file's text, hashed into the manifest. */
  text: string;
}

export interface BuildOptions {
  layout: StoreLayout;
  executor: () => Executor;
  progress: ProgressSink;
  /** Rebuild every step, ignoring cached layers. */
  noCache: boolean;
  outDir: string;
  signal: AbortSignal;
  /** Build only the steps before this one and hand back its sandbox (`nsbuild shell`). */
  stopBefore?: string;
  /**
   * Seconds added to the monotonic and boot-time clocks every step sees
   * (a time namespace offset): a variation `nsbuild verify` applies.
   */
  clockOffsetSeconds?: number;
  /** Run every step without the seccomp filter (--no-seccomp); the manifest says so. */
  noSeccomp?: boolean;
}

export interface PlannedStep {
  index: number;
  name: string;
  key: string;
  sandbox: StepSandbox;
  /** The recipe's stated exception to the default filter, for the manifest. */
  relaxSeccomp?: { groups: readonly string[]; reason: string };
}

export function baseRefOf(recipe: Recipe): BaseRef {
  const base = recipe.base as Record<string, unknown>;
  if (typeof base.debian === "string") {
    const packages = [...new Set((base.packages as string[] | undefined) ?? [])].sort();
    return { kind: "debian", suite: base.debian, packages };
  }
  if (typeof base.tarball === "string") return { kind: "tar", path: base.tarball };
  return { kind: "dir", path: String(base.directory) };
}

/** The environment every step starts from; the recipe's and the step's env go on top. */
export function baseEnvironment(sourceDateEpoch: number): Record<string, string> {
  return {
    PATH: DEFAULT_PATH,
    HOME: "/root",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TZ: "UTC",
    SOURCE_DATE_EPOCH: String(sourceDateEpoch),
    DEBIAN_FRONTEND: "noninteractive",
  };
}

/** Pure: every step's sandbox and cache key, from the base's digest up. */
export function planSteps(
  recipe: Recipe,
  base: ResolvedBase,
  sources: ReadySource[],
  isolation: { epoch?: number; noSeccomp?: boolean; clockOffsetSeconds?: number } = {},
): PlannedStep[] {
  const epoch = isolation.epoch ?? (recipe as { sourceDateEpoch?: number }).sourceDateEpoch ??
    DEFAULT_SOURCE_DATE_EPOCH;
  const binds: BindMount[] = sources.map((s) => ({
    source: s.hostPath,
    target: `/src/${s.name}`,
    readonly: true,
    directory: s.directory,
  }));
  const sourceDigests = Object.fromEntries(sources.map((s) => [s.name, s.digest]));
  let parent = base.digest;
  const steps: PlannedStep[] = [];
  for (const [i, step] of recipe.steps.entries()) {
    const env = { ...baseEnvironment(epoch), ...(recipe.env ?? {}), ...(step.env ?? {}) };
    const argv = typeof step.run === "string" ? ["/bin/sh", "-ec", step.run] : [...step.run];
    const cwd = step.cwd ?? "/build";
    const network = step.network ?? false;
    const relax = [...(step.relaxSeccomp?.groups ?? [])].sort();
    const seccomp = isolation.noSeccomp ? "off" as const : { relax };
    const key = stepKey({
      parent,
      name: step.name,
      argv,
      env,
      cwd,
      network,
      sources: sourceDigests,
      seccomp: seccomp === "off" ? "off" : relax.length ? relax : undefined,
    });
    steps.push({
      index: i + 1,
      name: step.name,
      key,
      ...(step.relaxSeccomp ? { relaxSeccomp: step.relaxSeccomp } : {}),
      sandbox: {
        rootfs: base.rootfs,
        layers: [], // filled in as the layers below come to exist
        binds: network ? [...binds, ...resolvConf()] : binds,
        env,
        cwd,
        argv,
        network,
        createDirs: ["/build", "/out", cwd],
        seccomp,
        ...(isolation.clockOffsetSeconds
          ? { clockOffsetSeconds: isolation.clockOffsetSeconds }
          : {}),
      },
    });
    parent = key;
  }
  return steps;
}

/** A step with the network needs the host's resolver configuration. */
function resolvConf(): BindMount[] {
  try {
    Deno.statSync("/etc/resolv.conf");
    return [{
      source: "/etc/resolv.conf",
      target: "/etc/resolv.conf",
      readonly: true,
      directory: false,
    }];
  } catch {
    return [];
  }
}

function logDirFor(layout: StoreLayout, name: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = join(layout.logs, name, stamp);
  Deno.mkdirSync(dir, { recursive: true });
  return dir;
}

export interface BuildOutcome {
  status: number;
  outDir?: string;
  /** With stopBefore: the step's sandbox over the layers below it. */
  stoppedAt?: StepSandbox;
}

export async function build(
  loaded: LoadedRecipeLike,
  options: BuildOptions,
): Promise<BuildOutcome> {
  const { layout, progress, signal } = options;
  const { recipe } = loaded;
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  ensureLayout(layout);
  const logDir = logDirFor(layout, recipe.name);
  progress.event({
    type: "build-start",
    recipe: loaded.file,
    name: recipe.name,
    steps: recipe.steps.length,
    logDir,
  });
  // Shared: prune waits for us, and we for it.
  const storeLock = await acquireLock(
    layout.locks,
    "store",
    () => progress.event({ type: "note", message: "waiting for `nsbuild cache prune` to finish" }),
    false,
  );
  try {
    const note = (message: string) => progress.event({ type: "note", message });
    const base = await resolveBase(baseRefOf(recipe), {
      layout,
      executor: options.executor,
      arch: hostDebianArch(),
      progress: note,
    });
    progress.event({
      type: "base",
      ref: base.info.ref,
      digest: base.digest,
      cached: !base.imported,
    });
    const sources = await prepareSources({
      layout,
      sources: (recipe.sources ?? []) as Parameters<typeof prepareSources>[0]["sources"],
      note,
      recipeLabel: loaded.file,
    });
    for (const s of sources) {
      progress.event({ type: "source", name: s.name, digest: s.digest, cached: s.cached });
    }
    const epoch = await deriveSourceDateEpoch(
      (recipe as { sourceDateEpoch?: number }).sourceDateEpoch,
      sources,
    );
    const steps = planSteps(recipe, base, sources, {
      epoch: epoch.value,
      noSeccomp: options.noSeccomp,
      clockOffsetSeconds: options.clockOffsetSeconds,
    });
    const layers: string[] = [];
    for (const step of steps) {
      if (step.name === options.stopBefore) {
        return { status: 0, stoppedAt: { ...step.sandbox, layers: [...layers] } };
      }
      const stepStarted = Date.now();
      const elapsed = () => (Date.now() - stepStarted) / 1000;
      if (!options.noCache && hasLayer(layout, step.key)) {
        touchLayer(layout, step.key);
        progress.event({
          type: "step-start",
          index: step.index,
          name: step.name,
          cached: true,
          key: step.key,
        });
        progress.event({
          type: "step-end",
          index: step.index,
          name: step.name,
          status: "cached",
          seconds: 0,
        });
        layers.push(layerUpper(layout, step.key));
        continue;
      }
      if (signal.aborted) return interrupted(progress, seconds());
      progress.event({
        type: "step-start",
        index: step.index,
        name: step.name,
        cached: false,
        key: step.key,
      });
      const log = join(logDir, `${String(step.index).padStart(2, "0")}-${step.name}.log`);
      const parent = step.index === 1 ? base.digest : steps[step.index - 2]!.key;
      const outcome = await runStep({
        layout,
        executor: options.executor,
        sandbox: { ...step.sandbox, layers: [...layers] },
        layer: {
          key: step.key,
          recipe: recipe.name,
          step: step.name,
          created: new Date().toISOString(),
          needs: [
            step.index === 1
              ? { kind: "bases", digest: base.digest }
              : { kind: "layers", digest: parent },
            ...sources.filter((s) => s.inStore).map((s) => ({
              kind: "sources" as const,
              digest: s.digest,
            })),
          ],
        },
        logPath: log,
        onLine: (line) =>
          progress.event({ type: "step-log", index: step.index, name: step.name, line }),
        signal,
      });
      if (signal.aborted) {
        progress.event({
          type: "step-end",
          index: step.index,
          name: step.name,
          status: "interrupted",
          seconds: elapsed(),
          log,
        });
        return interrupted(progress, seconds());
      }
      if (!outcome.upper) {
        const { result } = outcome;
        const exitCode = result.status;
        progress.event({
          type: "step-end",
          index: step.index,
          name: step.name,
          status: "failed",
          seconds: elapsed(),
          exitCode,
          log,
        });
        const tail = tailOf(log, 30).split("\n").filter((l, i, all) =>
          l !== "" || i < all.length - 1
        );
        if (result.error) tail.push(`nsbuild: ${result.error.message}`);
        progress.event({
          type: "build-end",
          status: "failed",
          seconds: seconds(),
          failedStep: step.name,
          log,
          tail,
          hint: `nsbuild shell ${loaded.file} --step ${step.name}`,
        });
        return { status: EXIT_BUILD_FAILED };
      }
      progress.event({
        type: "step-end",
        index: step.index,
        name: step.name,
        status: "done",
        seconds: elapsed(),
        log,
      });
      layers.push(outcome.upper);
    }
    const outputs = (recipe as { outputs?: string[] }).outputs ?? ["/out"];
    const files = await exportOutputs({
      layout,
      executor: options.executor,
      rootfs: base.rootfs,
      layers,
      outputs,
      outDir: options.outDir,
      signal,
    });
    if (signal.aborted) return interrupted(progress, seconds());
    const manifestPath = join(options.outDir, "nsbuild-manifest.json");
    writeJsonAtomic(
      manifestPath,
      manifest(loaded, base, sources, steps, files, {
        epoch,
        noSeccomp: options.noSeccomp ?? false,
      }),
    );
    writeJsonAtomic(join(layout.builds, `${recipe.name}.json`), {
      name: recipe.name,
      recipe: loaded.file,
      built: new Date().toISOString(),
      needs: [
        { kind: "bases", digest: base.digest },
        ...(steps.length ? [{ kind: "layers", digest: steps[steps.length - 1]!.key }] : []),
        ...sources.filter((s) => s.inStore).map((s) => ({ kind: "sources", digest: s.digest })),
      ],
    });
    progress.event({
      type: "build-end",
      status: "done",
      seconds: seconds(),
      outDir: options.outDir,
      manifest: manifestPath,
    });
    return { status: 0, outDir: options.outDir };
  } finally {
    storeLock.release();
  }
}

/** What kept the build in, as it was in force: for the manifest. */
function isolationRecord(steps: PlannedStep[], noSeccomp: boolean): unknown {
  return {
    namespaces: ["user", "mount", "pid", "uts", "ipc", "cgroup", "network (unless a step asks)"],
    idMap: currentIdMaps().mode === "single"
      ? "single id (--single-id): only root is mapped"
      : "subordinate ids",
    capabilities: Object.keys(KEPT_CAPABILITIES).sort(),
    noNewPrivs: true,
    seccomp: noSeccomp ? "off (--no-seccomp)" : "default filter",
    steps: steps.map((s) => ({
      name: s.name,
      network: s.sandbox.network,
      ...(s.relaxSeccomp ? { relaxSeccomp: s.relaxSeccomp } : {}),
    })),
  };
}

function interrupted(progress: ProgressSink, seconds: number): BuildOutcome {
  progress.event({ type: "build-end", status: "interrupted", seconds });
  return { status: EXIT_INTERRUPTED };
}

/**
 * The build's record. Nothing in it depends on the host or the moment: no
 * host path (the recipe by its file name, a local source by its path from
 * the recipe), no time, so two builds of the same inputs write the same bytes.
 */
export function manifest(
  loaded: LoadedRecipeLike,
  base: ResolvedBase,
  sources: ReadySource[],
  steps: PlannedStep[],
  files: ExtractedFile[],
  context: { epoch: SourceDateEpoch; noSeccomp: boolean },
): unknown {
  const recipeDir = loaded.file.slice(0, loaded.file.lastIndexOf("/") + 1);
  const origin = (o: string) =>
    o.startsWith(recipeDir) ? o.slice(recipeDir.length) || "." : o.startsWith("/") ? "local" : o;
  return {
    nsbuild: NSBUILD_VERSION,
    recipe: {
      name: loaded.recipe.name,
      version: loaded.recipe.version,
      file: loaded.file.slice(recipeDir.length),
      sha256: createHash("sha256").update(loaded.text).digest("hex"),
    },
    sourceDateEpoch: { value: context.epoch.value, from: context.epoch.from },
    isolation: isolationRecord(steps, context.noSeccomp),
    base: {
      ref: base.info.ref,
      digest: base.digest,
      packages: base.info.packages?.map((p) => `${p.name}=${p.version}`) ?? [],
    },
    sources: sources.map((s) => ({ name: s.name, origin: origin(s.origin), digest: s.digest })),
    steps: steps.map((s) => ({ name: s.name, key: s.key })),
    outputs: files
      .filter((f) => f.type !== "dir")
      .map((f) =>
        f.type === "symlink"
          ? { path: f.path, type: "symlink", target: f.linkTarget }
          : { path: f.path, type: "file", size: f.size, sha256: f.sha256, mode: f.mode }
      ),
  };
}
