/** `nsbuild build recipe.ts` (or just `nsbuild recipe.ts`) and `nsbuild shell recipe.ts --step NAME`. */
import { ArgsError, flag, parseOptions, stringOption } from "./args.ts";
import { CliError } from "./errors.ts";
import { storeContext } from "./store_context.ts";
import { absolutePath, joinPath as join } from "../util/path.ts";
import { build, EXIT_INTERRUPTED, NSBUILD_VERSION } from "../build/build.ts";
import { createProgress } from "../build/progress.ts";
import { type LoadedRecipe, loadRecipe } from "../recipe/load.ts";
import { RecipeError } from "../recipe/validate.ts";
import { hostDebianArch } from "../base/arch.ts";
import { ImportError } from "../base/import.ts";
import { RefError } from "../base/ref.ts";
import { SourceError } from "../build/sources.ts";
import { ExportError } from "../build/export.ts";
import { SandboxError } from "../sandbox/errors.ts";
import { acceptSingleIdMap, runDirOwner, runSandbox } from "../sandbox/run.ts";
import { createRunDir } from "../store/root.ts";
import { parseSide, sideLayout, sideRecipe } from "../verify/side.ts";

export const BUILD_USAGE =
  "nsbuild [build] RECIPE.ts [--out DIR] [--no-cache] [--json] [--no-seccomp] [--single-id]";
export const SHELL_USAGE = "nsbuild shell RECIPE.ts --step NAME";

function usage(message: string, which = BUILD_USAGE): CliError {
  return new CliError(message, `usage: ${which}`);
}

export async function load(file: string): Promise<LoadedRecipe> {
  try {
    return await loadRecipe(absolutePath(file), {
      arch: hostDebianArch(),
      nsbuildVersion: NSBUILD_VERSION,
    });
  } catch (e) {
    if (e instanceof RecipeError) throw new CliError(e.message, e.hint, 2);
    throw e;
  }
}

/** Errors a build reports as one message (the progress display already said what ran). */
export function asCliError(e: unknown): unknown {
  if (e instanceof ImportError || e instanceof SourceError || e instanceof ExportError) {
    return new CliError(e.message, e.hint, 1);
  }
  if (e instanceof RefError) return new CliError(e.message, "", 2);
  if (e instanceof SandboxError) return new CliError(e.message, "", 125);
  return e;
}

/** Ctrl-C (and SIGTERM) abort the running step at once; completed layers stay. */
export function interruptible(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  signals.forEach((s) => Deno.addSignalListener(s, stop));
  return {
    signal: controller.signal,
    dispose: () => signals.forEach((s) => Deno.removeSignalListener(s, stop)),
  };
}

export async function buildCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(args, {
      out: { type: "string" },
      "no-cache": { type: "boolean" },
      json: { type: "boolean" },
      "no-seccomp": { type: "boolean" },
      "single-id": { type: "boolean" },
      // Internal, not in the usage: how `nsbuild verify` runs its build b (src/verify/side.ts).
      "verify-side": { type: "string" },
    });
  } catch (e) {
    if (e instanceof ArgsError) throw usage(e.message);
    throw e;
  }
  if (parsed.positionals.length !== 1) throw usage("give one recipe file");
  let loaded = await load(parsed.positionals[0]!);
  if (flag(parsed, "single-id")) acceptSingleIdMap();
  const noSeccomp = flag(parsed, "no-seccomp");
  if (noSeccomp) {
    console.error("nsbuild: warning: --no-seccomp: every step runs without the system call filter");
  }
  const json = flag(parsed, "json");
  const ctx = storeContext(true);
  let layout = ctx.layout;
  let clockOffsetSeconds: number | undefined;
  const sideText = stringOption(parsed, "verify-side");
  if (sideText !== undefined) {
    let side;
    try {
      side = parseSide(sideText);
    } catch (e) {
      throw usage((e as Error).message);
    }
    layout = sideLayout(layout, side);
    loaded = sideRecipe(loaded, side);
    clockOffsetSeconds = side.clockOffsetSeconds;
  }
  const progress = createProgress(
    json ? "json" : Deno.stderr.isTerminal() ? "terminal" : "plain",
    {
      write: (bytes) => json ? Deno.stdout.writeSync(bytes) : Deno.stderr.writeSync(bytes),
      columns: () => {
        try {
          return Deno.consoleSize().columns;
        } catch {
          return 80;
        }
      },
    },
  );
  const outDir = absolutePath(stringOption(parsed, "out") ?? join("out", loaded.recipe.name));
  const interrupt = interruptible();
  try {
    const outcome = await build(loaded, {
      layout,
      executor: ctx.executor,
      progress,
      noCache: flag(parsed, "no-cache"),
      outDir,
      signal: interrupt.signal,
      noSeccomp,
      ...(clockOffsetSeconds !== undefined ? { clockOffsetSeconds } : {}),
    });
    return outcome.status;
  } catch (e) {
    if (interrupt.signal.aborted) {
      progress.event({ type: "build-end", status: "interrupted", seconds: 0 });
      return EXIT_INTERRUPTED;
    }
    throw asCliError(e);
  } finally {
    progress.close();
    interrupt.dispose();
  }
}

export async function shellCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(args, { step: { type: "string" } });
  } catch (e) {
    if (e instanceof ArgsError) throw usage(e.message, SHELL_USAGE);
    throw e;
  }
  if (parsed.positionals.length !== 1) throw usage("give one recipe file", SHELL_USAGE);
  const loaded = await load(parsed.positionals[0]!);
  const names = loaded.recipe.steps.map((s) => s.name);
  const stepName = stringOption(parsed, "step") ?? names[names.length - 1]!;
  if (!names.includes(stepName)) {
    throw new CliError(
      `shell: the recipe has no step "${stepName}"`,
      `its steps: ${names.join(", ")}`,
    );
  }
  const ctx = storeContext(true);
  const progress = createProgress(Deno.stderr.isTerminal() ? "terminal" : "plain", {
    write: (bytes) => Deno.stderr.writeSync(bytes),
  });
  const interrupt = interruptible();
  let outcome;
  try {
    outcome = await build(loaded, {
      layout: ctx.layout,
      executor: ctx.executor,
      progress,
      noCache: false,
      outDir: "",
      signal: interrupt.signal,
      stopBefore: stepName,
    });
  } catch (e) {
    throw asCliError(e);
  } finally {
    progress.close();
    interrupt.dispose();
  }
  if (!outcome.stoppedAt) return outcome.status;
  const sandbox = outcome.stoppedAt;
  console.error(
    `nsbuild: a shell where step "${stepName}" would run (cwd ${sandbox.cwd}); ` +
      "what you change here is discarded when you leave",
  );
  const executor = ctx.executor();
  const result = await runSandbox(
    {
      rootfs: sandbox.rootfs,
      layers: sandbox.layers,
      runDir: createRunDir(ctx.layout.root, runDirOwner()),
      binds: sandbox.binds,
      createDirs: sandbox.createDirs,
      tmpfs: [],
      network: sandbox.network,
      hostname: "nsbuild",
      env: { ...sandbox.env, ...(Deno.env.get("TERM") ? { TERM: Deno.env.get("TERM")! } : {}) },
      cwd: sandbox.cwd,
      argv: [
        "/bin/sh",
        "-c",
        "if command -v bash >/dev/null; then exec bash -i; else exec sh -i; fi",
      ],
      terminal: Deno.stdin.isTerminal(),
    },
    executor,
  );
  if (result.error) console.error(`nsbuild: ${result.error.message}`);
  return result.status;
}
