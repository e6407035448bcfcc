/**
 * Bringing /out home: a last sandbox over the base and every layer packs
 * /out with the base's own tar, and nsbuild unpacks that stream on the host
 * with extractTar(), which never writes through a symlink and keeps
 * symlinks as symlinks: nothing a build leaves in /out can make nsbuild
 * read or write outside the sandbox. The result is renamed into place only
 * when complete, with its manifest.
 */
import { joinPath as join } from "../util/path.ts";
import type { Executor } from "../sandbox/executor.ts";
import { openFifo } from "../sandbox/capture.ts";
import { runDirOwner, runSandbox } from "../sandbox/run.ts";
import type { StoreLayout } from "../store/layout.ts";
import { createRunDir } from "../store/root.ts";
import { createTemp, finishTemp } from "../store/temp.ts";
import { tailOf } from "../base/import.ts";
import { ArchiveError, type ExtractedFile, extractTar } from "../base/tar_extract.ts";
import { DEFAULT_PATH } from "../sandbox/spec.ts";

export class ExportError extends Error {
  override name = "ExportError";
  constructor(message: string, readonly hint = "") {
    super(message);
  }
}

/** `/out/a/b` → `a/b`; `/out` → `.` */
export function outRelative(path: string): string {
  const rel = path.replace(/^\/out\/?/, "").replace(/\/+$/, "");
  return rel === "" ? "." : rel;
}

export async function exportOutputs(options: {
  layout: StoreLayout;
  executor: () => Executor;
  rootfs: string;
  layers: string[];
  outputs: string[];
  /** Where the files land on the host (created or replaced). */
  outDir: string;
  signal: AbortSignal;
}): Promise<ExtractedFile[]> {
  const { layout } = options;
  const executor = options.executor();
  const temp = await createTemp(layout.tmp, "export");
  const fifo = join(temp.dir, "out.fifo");
  const log = join(temp.dir, "tar.log");
  try {
    executor.mkfifo(fifo, 0o600);
    const running = runSandbox(
      {
        rootfs: options.rootfs,
        layers: options.layers,
        runDir: createRunDir(layout.root, runDirOwner()),
        binds: [],
        createDirs: ["/out"],
        tmpfs: [],
        network: false,
        hostname: "nsbuild",
        env: { PATH: DEFAULT_PATH, LC_ALL: "C" },
        cwd: "/out",
        argv: ["tar", "--numeric-owner", "-cf", "-", "--", ...options.outputs.map(outRelative)],
        stdio: { stdin: "/dev/null", stdout: fifo, stderr: log },
        terminal: false,
        signal: options.signal,
      },
      executor,
    );
    const stream = await openFifo(fifo, "read", running);
    // Unpacked beside the target, then renamed over it: never half an output.
    const parent = join(options.outDir, "..");
    Deno.mkdirSync(parent, { recursive: true });
    const staging = Deno.makeTempDirSync({ dir: parent, prefix: ".nsbuild-out-" });
    let files: ExtractedFile[] = [];
    let extractError: unknown;
    try {
      if (stream) files = await extractTar(stream.readable, staging);
    } catch (e) {
      extractError = e;
    }
    const result = await running;
    if (result.error || result.status !== 0 || extractError !== undefined || !stream) {
      Deno.removeSync(staging, { recursive: true });
      if (extractError instanceof ArchiveError) {
        // What the steps left in /out, not a fault of nsbuild's: the build failed. Checked
        // before tar's status, which then often only tells of the pipe closed on it.
        const tarSaid = result.status !== 0 ? tailOf(log) : "";
        throw new ExportError(
          `refusing the outputs: ${extractError.message}${tarSaid ? `\n${tarSaid}` : ""}`,
          "nothing was written outside the output directory; check what the steps leave in /out",
        );
      }
      if (result.error) throw result.error;
      if (result.status === 127) {
        throw new ExportError(
          "the base has no tar, which copying /out needs",
          "add tar to the base",
        );
      }
      if (result.status !== 0) {
        throw new ExportError(
          `copying the outputs failed:\n${tailOf(log)}`,
          "check `outputs` in the recipe",
        );
      }
      throw extractError;
    }
    return await placeOutputs(staging, options.outDir, files);
  } finally {
    try {
      Deno.removeSync(temp.dir, { recursive: true });
    } catch {
      // prune removes it.
    }
    finishTemp(temp.dir, temp.lock);
  }
}

async function placeOutputs(
  staging: string,
  outDir: string,
  files: ExtractedFile[],
): Promise<ExtractedFile[]> {
  let old: string | undefined;
  try {
    Deno.lstatSync(outDir);
    old = `${outDir}.old-${Deno.pid}`;
    Deno.renameSync(outDir, old);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  Deno.renameSync(staging, outDir);
  if (old) await Deno.remove(old, { recursive: true });
  return files;
}
