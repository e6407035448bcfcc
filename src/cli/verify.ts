/** `nsbuild verify RECIPE.ts [--keep DIR] [--json]`: two builds under varied host sides, compared. */
import { ArgsError, flag, parseOptions, stringOption } from "./args.ts";
import { CliError } from "./errors.ts";
import { storeContext } from "./store_context.ts";
import { asCliError, interruptible, load } from "./build.ts";
import { absolutePath } from "../util/path.ts";
import { createProgress, type ProgressSink } from "../build/progress.ts";
import { exitStatus, verify } from "../verify/verify.ts";
import { reportJson, reportLines } from "../verify/report.ts";
import { ViewError } from "../verify/disorder.ts";

export const VERIFY_USAGE = "nsbuild verify RECIPE.ts [--keep DIR] [--json]";

const encoder = new TextEncoder();

function writeAll(bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += Deno.stderr.writeSync(bytes.subarray(done));
}

/** Plain progress lines on stderr, each prefixed with "[a] " or "[b] ". */
function prefixedProgress(prefix: string): ProgressSink {
  const decoder = new TextDecoder();
  let pending = "";
  return createProgress("plain", {
    write: (bytes) => {
      pending += decoder.decode(bytes, { stream: true });
      const end = pending.lastIndexOf("\n");
      if (end < 0) return;
      const lines = pending.slice(0, end).split("\n");
      pending = pending.slice(end + 1);
      writeAll(encoder.encode(lines.map((l) => `${prefix}${l}\n`).join("")));
    },
  });
}

const SYS_KINDS = [
  "hostname",
  "osRelease",
  "osUptime",
  "loadavg",
  "networkInterfaces",
  "systemMemoryInfo",
  "uid",
  "gid",
  "cpus",
  "homedir",
] as const;

/** This process's permissions as `deno run` flags, so that build b runs with exactly them. */
function permissionFlags(): string[] {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  const flags: string[] = [];
  for (const name of ["read", "write", "env", "run", "net", "ffi"] as const) {
    if (granted({ name })) flags.push(`--allow-${name}`);
  }
  const executor = Deno.env.get("NSBUILD_EXECUTOR");
  if (!flags.includes("--allow-ffi") && executor && granted({ name: "ffi", path: executor })) {
    flags.push(`--allow-ffi=${executor}`);
  }
  if (granted({ name: "sys" })) flags.push("--allow-sys");
  else {
    const kinds = SYS_KINDS.filter((kind) => granted({ name: "sys", kind }));
    if (kinds.length) flags.push(`--allow-sys=${kinds.join(",")}`);
  }
  return flags;
}

/** How to start this same nsbuild again, with this process's permissions. */
function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    "--no-config",
    "--no-lock",
    ...permissionFlags(),
    decodeURIComponent(new URL(Deno.mainModule).pathname),
  ];
}

export async function verifyCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(args, { keep: { type: "string" }, json: { type: "boolean" } });
  } catch (e) {
    if (e instanceof ArgsError) throw new CliError(e.message, `usage: ${VERIFY_USAGE}`);
    throw e;
  }
  if (parsed.positionals.length !== 1) {
    throw new CliError("give one recipe file", `usage: ${VERIFY_USAGE}`);
  }
  const loaded = await load(parsed.positionals[0]!);
  const json = flag(parsed, "json");
  const keepOption = stringOption(parsed, "keep");
  const keep = keepOption === undefined ? undefined : absolutePath(keepOption);
  if (keep) Deno.mkdirSync(keep, { recursive: true });
  const ctx = storeContext(true);
  const note = (line: string) => writeAll(encoder.encode(`verify: ${line}\n`));
  const interrupt = interruptible();
  let report;
  try {
    report = await verify({
      loaded,
      layout: ctx.layout,
      executor: ctx.executor,
      self: selfCommand(),
      env: Deno.env.toObject(),
      ...(keep ? { keep } : {}),
      progressA: prefixedProgress("[a] "),
      progressB: prefixedProgress("[b] "),
      note,
      signal: interrupt.signal,
    });
  } catch (e) {
    if (interrupt.signal.aborted) {
      note("interrupted");
      return 130;
    }
    if (e instanceof ViewError) {
      throw new CliError(e.message, "", 1);
    }
    throw asCliError(e);
  } finally {
    interrupt.dispose();
  }
  if (json) console.log(JSON.stringify(reportJson(report)));
  else console.log(reportLines(report).join("\n"));
  return exitStatus(report);
}
