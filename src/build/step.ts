/**
 * One build step: a fresh sandbox over the base and the layers below it,
 * writing into a new upper directory that becomes the step's layer when the
 * command succeeds. The command's output goes through a FIFO to the step's
 * log file and, line by line, to the progress display.
 */
import { joinPath as join } from "../util/path.ts";
import type { Executor } from "../sandbox/executor.ts";
import { forEachLine, openFifo } from "../sandbox/capture.ts";
import { runDirOwner, runSandbox, type SandboxResult } from "../sandbox/run.ts";
import type { BindMount } from "../sandbox/spec.ts";
import type { StoreLayout } from "../store/layout.ts";
import { createRunDir } from "../store/root.ts";
import { createTemp, finishTemp } from "../store/temp.ts";
import { writeJsonAtomic } from "../base/entry.ts";
import { discardTemp } from "../base/import.ts";

export interface StepSandbox {
  rootfs: string;
  /** Upper directories of the layers below, lowest first. */
  layers: string[];
  binds: BindMount[];
  env: Record<string, string>;
  cwd: string;
  argv: string[];
  network: boolean;
  createDirs: string[];
  /** The system call filter: the default with these groups relaxed, or "off". */
  seccomp: { relax: string[] } | "off";
  /** Seconds the monotonic and boot-time clocks run ahead (`nsbuild verify`). */
  clockOffsetSeconds?: number;
}

export interface LayerInfo {
  key: string;
  recipe: string;
  step: string;
  created: string;
  /** What this layer stands on: the base, the layer below, the sources it saw. */
  needs: { kind: "bases" | "layers" | "sources"; digest: string }[];
}

export interface StepOutcome {
  result: SandboxResult;
  /** The committed layer's upper directory, when the step succeeded. */
  upper?: string;
}

export function layerUpper(layout: StoreLayout, key: string): string {
  return join(layout.layers, key, "upper");
}

export function hasLayer(layout: StoreLayout, key: string): boolean {
  try {
    Deno.statSync(join(layout.layers, key, "layer.json"));
    return true;
  } catch {
    return false;
  }
}

/** Marks a layer as used now, for `cache prune --older-than`. */
export function touchLayer(layout: StoreLayout, key: string): void {
  const now = new Date();
  try {
    Deno.utimeSync(join(layout.layers, key, "layer.json"), now, now);
  } catch {
    // A read-only store still builds.
  }
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

export async function runStep(options: {
  layout: StoreLayout;
  executor: () => Executor;
  sandbox: StepSandbox;
  layer: LayerInfo;
  logPath: string;
  onLine: (line: string) => void;
  signal: AbortSignal;
}): Promise<StepOutcome> {
  const { layout, sandbox } = options;
  const executor = options.executor();
  const temp = await createTemp(layout.tmp, "layer");
  const upper = join(temp.dir, "upper");
  const fifo = join(temp.dir, "output.fifo");
  let committed = false;
  try {
    executor.mkfifo(fifo, 0o600);
    const log = await Deno.open(options.logPath, { write: true, create: true, truncate: true });
    let result: SandboxResult;
    try {
      const running = runSandbox(
        {
          rootfs: sandbox.rootfs,
          layers: sandbox.layers,
          upperDir: upper,
          runDir: createRunDir(layout.root, runDirOwner()),
          binds: sandbox.binds,
          createDirs: sandbox.createDirs,
          tmpfs: [],
          network: sandbox.network,
          hostname: "nsbuild",
          env: sandbox.env,
          cwd: sandbox.cwd,
          argv: sandbox.argv,
          stdio: { stdin: "/dev/null", stdout: fifo, stderr: fifo },
          terminal: false,
          seccomp: sandbox.seccomp,
          clockOffsetSeconds: sandbox.clockOffsetSeconds,
          signal: options.signal,
          // The next step starts while this one's work directory is removed.
          cleanupInBackground: true,
        },
        executor,
      );
      const output = await openFifo(fifo, "read", running);
      if (output) {
        await forEachLine(output.readable, (bytes) => writeAllSync(log, bytes), options.onLine);
      }
      result = await running;
      result.cleanup?.then((warning) => {
        if (warning) console.error(`nsbuild: warning: ${warning}`);
      });
    } finally {
      log.close();
    }
    if (result.status !== 0 || result.error) return { result };
    Deno.removeSync(fifo);
    writeJsonAtomic(join(temp.dir, "layer.json"), options.layer);
    const target = join(layout.layers, options.layer.key);
    try {
      Deno.renameSync(temp.dir, target);
      committed = true;
      finishTemp(temp.dir, temp.lock);
    } catch (e) {
      // Another build committed the same step meanwhile: theirs is as good.
      if (!hasLayer(layout, options.layer.key)) throw e;
    }
    return { result, upper: layerUpper(layout, options.layer.key) };
  } finally {
    if (!committed) await discardTemp(layout.root, temp, options.executor);
  }
}
