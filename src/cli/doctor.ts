/** `nsbuild doctor [--json]`: checks the host and explains each problem with its fix. */
import { ArgsError, flag, parseOptions } from "./args.ts";
import { CliError } from "./errors.ts";
import { exitStatus, formatResult, runChecks } from "../doctor/checks.ts";
import { probeHost } from "../doctor/facts.ts";

export const DOCTOR_USAGE = "nsbuild doctor [--json]";

export async function doctorCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(args, { json: { type: "boolean" } });
  } catch (e) {
    if (e instanceof ArgsError) {
      throw new CliError(`doctor: ${e.message}`, `usage: ${DOCTOR_USAGE}`);
    }
    throw e;
  }
  if (parsed.positionals.length || parsed.rest) {
    const extra = parsed.positionals[0] ?? "--";
    throw new CliError(`doctor: unexpected argument "${extra}"`, `usage: ${DOCTOR_USAGE}`);
  }
  const results = runChecks(await probeHost());
  if (flag(parsed, "json")) console.log(JSON.stringify(results));
  else for (const r of results) console.log(formatResult(r));
  return exitStatus(results);
}
