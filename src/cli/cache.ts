/** `nsbuild cache ls` and `nsbuild cache prune`. */
import { ArgsError, flag, parseOptions, stringOption } from "./args.ts";
import { CliError } from "./errors.ts";
import { formatAge, formatBytes, table } from "./format.ts";
import { storeContext } from "./store_context.ts";
import { readInventory } from "../store/inventory.ts";
import { parseAge, planPrune, prune } from "../store/prune.ts";
import { abandonedTemps } from "../store/temp.ts";
import { RemoveError } from "../store/remove.ts";

export const CACHE_USAGE = "nsbuild cache ls [--json] | " +
  "nsbuild cache prune [--older-than AGE] [--all] [--dry-run] [--json]";

function usage(message: string): CliError {
  return new CliError(`cache: ${message}`, `usage: ${CACHE_USAGE}`);
}

export async function cacheCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseOptions(rest, {
      json: { type: "boolean" },
      all: { type: "boolean" },
      "dry-run": { type: "boolean" },
      "older-than": { type: "string" },
    });
  } catch (e) {
    if (e instanceof ArgsError) throw usage(e.message);
    throw e;
  }
  if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
  const json = flag(parsed, "json");
  const ctx = storeContext(json);
  const now = new Date();
  switch (sub) {
    case "ls": {
      if (flag(parsed, "all") || flag(parsed, "dry-run") || stringOption(parsed, "older-than")) {
        throw usage("ls takes only --json");
      }
      const inventory = readInventory(ctx.layout);
      // Only a peek: the locks are released at once.
      const temps = await abandonedTemps(ctx.layout.tmp);
      temps.forEach((t) => t.lock.release());
      const rows = inventory.entries.map((e) => ({
        kind: e.kind.slice(0, -1),
        digest: e.digest,
        what: e.what,
        bytes: e.bytes,
        created: e.created.toISOString(),
        lastUsed: e.lastUsed.toISOString(),
        usedBy: e.usedBy,
      }));
      if (json) {
        console.log(
          JSON.stringify({ entries: rows, abandonedTemporaries: temps.map((t) => t.dir) }),
        );
        return 0;
      }
      if (rows.length === 0) console.log(`the store at ${ctx.layout.root} is empty`);
      else {
        console.log(table([
          ["KIND", "DIGEST", "SIZE", "AGE", "LAST USED", "WHAT", "USED BY"],
          ...rows.map((r) => [
            r.kind,
            r.digest.slice(0, 12),
            formatBytes(r.bytes),
            formatAge(new Date(r.created), now),
            `${formatAge(new Date(r.lastUsed), now)} ago`,
            r.what,
            r.usedBy.join(", ") || "nothing (prune removes it)",
          ]),
        ]));
        const total = rows.reduce((n, r) => n + r.bytes, 0);
        console.log(`${rows.length} entries, ${formatBytes(total)}, in ${ctx.layout.root}`);
      }
      if (temps.length) {
        console.log(
          `${temps.length} temporaries left by interrupted runs: \`nsbuild cache prune\` removes them`,
        );
      }
      return 0;
    }
    case "prune": {
      const ageText = stringOption(parsed, "older-than");
      const olderThanMs = ageText === undefined ? undefined : parseAge(ageText);
      if (ageText !== undefined && olderThanMs === undefined) {
        throw usage(`--older-than needs an age like 30d, 12h, 90m or 45s, got "${ageText}"`);
      }
      let report;
      try {
        report = await prune(
          ctx.layout,
          (inventory) => planPrune(inventory, { all: flag(parsed, "all"), olderThanMs, now }),
          () => readInventory(ctx.layout),
          ctx.executor,
          {
            dryRun: flag(parsed, "dry-run"),
            onWait: () => ctx.progress("waiting for running builds to finish using the store"),
          },
        );
      } catch (e) {
        if (e instanceof RemoveError) {
          throw new CliError(e.message, "run `nsbuild cache prune` again", 1);
        }
        throw e;
      }
      if (json) {
        console.log(JSON.stringify(report));
        return 0;
      }
      const verb = flag(parsed, "dry-run") ? "would remove" : "removed";
      for (const e of report.entries) {
        console.log(
          `${verb} ${e.kind.slice(0, -1)} ${e.digest.slice(0, 12)} ${e.what} (${
            formatBytes(e.bytes)
          })`,
        );
      }
      for (const r of report.roots) console.log(`${verb} ${r}`);
      if (report.temporaries.length) {
        console.log(`${verb} ${report.temporaries.length} abandoned temporaries`);
      }
      if (report.runs.length) console.log(`${verb} ${report.runs.length} stale run directories`);
      console.log(`${verb} ${report.entries.length} entries, ${formatBytes(report.bytes)}`);
      return 0;
    }
    default:
      throw usage(sub ? `unknown subcommand "${sub}"` : "which subcommand?");
  }
}
