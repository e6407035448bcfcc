/** The nsbuild command line: dispatches to a subcommand. */
import { runCommand } from "./run.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";
import { USAGE } from "./usage.ts";

export const VERSION = "0.1.0";

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "run":
      return await runCommand(rest);
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
      throw new CliError(
        `unknown command "${command}"`,
        "run `nsbuild help` for the list of commands",
      );
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
      const message = e instanceof Error ? e.message : String(e);
      console.error(`nsbuild: ${message}`);
      if (Deno.env.get("NSBUILD_DEBUG") && e instanceof Error) console.error(e.stack);
      status = 125;
    }
  }
  Deno.exit(status);
}
