/** `nsbuild base ls` and `nsbuild base pull REF`. */
import { ArgsError, flag, parseOptions } from "./args.ts";
import { CliError } from "./errors.ts";
import { formatAge, formatBytes, table } from "./format.ts";
import { storeContext } from "./store_context.ts";
import { listBases, listRefRecords } from "../base/entry.ts";
import { resolveBaseRef } from "./resolve_base.ts";

export const BASE_USAGE = "nsbuild base ls [--json] | nsbuild base pull REF [--refresh] [--json]";

function usage(message: string): CliError {
  return new CliError(`base: ${message}`, `usage: ${BASE_USAGE}`);
}

export async function baseCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseOptions(rest, { json: { type: "boolean" }, refresh: { type: "boolean" } });
  } catch (e) {
    if (e instanceof ArgsError) throw usage(e.message);
    throw e;
  }
  const json = flag(parsed, "json");
  switch (sub) {
    case "ls": {
      if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
      const ctx = storeContext();
      const refs = listRefRecords(ctx.layout);
      const now = new Date();
      const bases = listBases(ctx.layout).map(({ dir, info }) => ({
        digest: info.digest,
        path: `${dir}/rootfs`,
        refs: refs.filter((r) => r.digest === info.digest).map((r) => r.ref),
        kind: info.kind,
        bytes: info.bytes,
        created: info.created,
        packages: info.packages?.length ?? 0,
        skippedDevices: info.skippedDevices,
      }));
      if (json) {
        console.log(JSON.stringify(bases));
        return 0;
      }
      if (bases.length === 0) {
        console.log(
          "no bases yet: `nsbuild base pull debian:bookworm` or `nsbuild run --base REF` imports one",
        );
        return 0;
      }
      console.log(table([
        ["DIGEST", "SIZE", "AGE", "PACKAGES", "REFERENCES"],
        ...bases.map((b) => [
          b.digest.slice(0, 12),
          formatBytes(b.bytes),
          formatAge(new Date(b.created), now),
          b.kind === "debian" ? String(b.packages) : "-",
          b.refs.join(", ") || "(none: prune removes it)",
        ]),
      ]));
      return 0;
    }
    case "pull": {
      if (parsed.positionals.length !== 1) {
        throw usage("pull takes one reference, e.g. debian:bookworm");
      }
      const ctx = storeContext(json);
      const resolved = await resolveBaseRef(parsed.positionals[0]!, ctx, flag(parsed, "refresh"));
      try {
        if (json) {
          console.log(JSON.stringify({
            digest: resolved.digest,
            rootfs: resolved.rootfs,
            imported: resolved.imported,
            ref: resolved.info.ref,
          }));
        } else {
          console.log(`${resolved.digest} ${resolved.rootfs}`);
        }
      } finally {
        resolved.release();
      }
      return 0;
    }
    default:
      throw usage(sub ? `unknown subcommand "${sub}"` : "which subcommand?");
  }
}
