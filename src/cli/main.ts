/** The nsbuild command line: dispatches to a subcommand. */
import { runCommand } from "./run.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";
import { USAGE } from "./usage.ts";
import { storeEnv, storeRoot } from "../store/root.ts";
import { storeLayout } from "../store/layout.ts";
import { cacheFiltersIn } from "../sandbox/seccomp.ts";
import { sandboxCleanups } from "../sandbox/run.ts";
import { noSpaceError, noSpaceReport } from "../store/space.ts";

export const VERSION = "0.1.0";

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const store = placedStore();
  if (store) cacheFiltersIn(storeLayout(store).filters);
  switch (command) {
    case "run":
      return await runCommand(rest);
    case "base":
      return await (await import("./base.ts")).baseCommand(rest);
    case "cache":
      return await (await import("./cache.ts")).cacheCommand(rest);
    case "build":
      return await (await import("./build.ts")).buildCommand(rest);
    case "shell":
      return await (await import("./build.ts")).shellCommand(rest);
    case "verify":
      return await (await import("./verify.ts")).verifyCommand(rest);
    case "doctor":
      return await (await import("./doctor.ts")).doctorCommand(rest);
    case "version":
    case "--version":
      console.log(`nsbuild ${VERSION}`);
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? EXIT_USAGE : 0;
    default:
      // `nsbuild recipe.ts` is short for `nsbuild build recipe.ts`.
      if (command.endsWith(".ts")) return await (await import("./build.ts")).buildCommand(args);
      throw new CliError(
        `unknown command "${command}"`,
        "run `nsbuild help` for the list of commands",
      );
  }
}

/** The store's root for a message, or undefined when it cannot be placed. */
function placedStore(): string | undefined {
  try {
    return storeRoot(storeEnv());
  } catch {
    return undefined;
  }
}

if (import.meta.main) {
  let status: number;
  try {
    status = await main(Deno.args);
  } catch (e) {
    if (e instanceof CliError) {
      console.error(`nsbuild: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ""}`);
      status = e.status;
    } else {
      // Every error ends as one line; a stack trace only on request.
      const full = noSpaceError(e);
      const report = full ? noSpaceReport(full, placedStore()) : undefined;
      // Typed errors (ImportError, SeccompUnavailableError, ...) carry a hint.
      const hint = (e as { hint?: unknown } | null)?.hint;
      const message = report
        ? `${report.message}\n  hint: ${report.hint}`
        : e instanceof Error
        ? `${e.message}${typeof hint === "string" && hint ? `\n  hint: ${hint}` : ""}`
        : String(e);
      console.error(`nsbuild: ${message}`);
      if (Deno.env.get("NSBUILD_DEBUG") && e instanceof Error) console.error(e.stack);
      status = 125;
    }
  }
  // Build steps leave their monitors removing run directories: nothing may be left behind.
  await sandboxCleanups();
  Deno.exit(status);
}
