/** `nsbuild run`: one command in a fresh sandbox over a root filesystem. */
import {
  ArgsError,
  flag,
  type OptionSpec,
  parseOptions,
  stringOption,
  stringOptions,
} from "./args.ts";
import { absolutePath } from "../util/path.ts";
import { CliError } from "./errors.ts";
import { loadExecutor } from "../sandbox/executor_ffi.ts";
import { acceptSingleIdMap, EXIT_SETUP_FAILED, runDirOwner, runSandbox } from "../sandbox/run.ts";
import {
  type BindMount,
  DEFAULT_HOSTNAME,
  DEFAULT_PATH,
  type SandboxSpec,
} from "../sandbox/spec.ts";
import { denyRules, SeccompPolicyError } from "../sandbox/seccomp_rules.ts";
import { createRunDir, storeEnv, storeRoot } from "../store/root.ts";

export const RUN_USAGE =
  "nsbuild run (--rootfs DIR | --base REF) [--bind SRC:DST] [--ro-bind SRC:DST] [--tmpfs DST] " +
  "[--net] [--hostname NAME] [--env KEY=VALUE]... [--cwd DIR] [--relax-seccomp GROUP]... " +
  "[--no-seccomp] [--single-id] -- CMD [ARG...]";

function usage(message: string): CliError {
  return new CliError(`run: ${message}`, `usage: ${RUN_USAGE}`, EXIT_SETUP_FAILED);
}

function badInput(message: string, hint: string): CliError {
  return new CliError(`run: ${message}`, hint, EXIT_SETUP_FAILED);
}

/** What `run` takes from its arguments: a SandboxSpec but for what the runner decides. */
export type RunOptions =
  & Pick<
    SandboxSpec,
    "rootfs" | "binds" | "tmpfs" | "network" | "hostname" | "env" | "cwd" | "argv" | "seccomp"
  >
  & {
    /** A base reference to resolve into the rootfs (then rootfs is ""). */
    base?: string;
    /** --single-id: accept running with only root mapped when there are no subordinate ids. */
    singleId?: boolean;
  };

function splitBind(value: string, flag: string): [string, string] {
  const at = value.indexOf(":");
  const [src, dst] = at < 0 ? [value, value] : [value.slice(0, at), value.slice(at + 1)];
  if (!src || !dst) throw usage(`${flag} needs SRC:DST, got "${value}"`);
  if (!dst.startsWith("/")) {
    throw usage(`${flag} target must be absolute inside the sandbox: "${dst}"`);
  }
  return [src, dst];
}

const RUN_OPTIONS: Record<string, OptionSpec> = {
  rootfs: { type: "string" },
  base: { type: "string" },
  bind: { type: "string", multiple: true },
  "ro-bind": { type: "string", multiple: true },
  tmpfs: { type: "string", multiple: true },
  net: { type: "boolean" },
  hostname: { type: "string" },
  env: { type: "string", multiple: true },
  cwd: { type: "string" },
  "relax-seccomp": { type: "string", multiple: true },
  "no-seccomp": { type: "boolean" },
  "single-id": { type: "boolean" },
};

/** Parses `run` arguments; pure but for resolving relative host paths against cwd. */
export function parseRunArgs(
  args: string[],
  hostEnv: Record<string, string | undefined> = {},
): RunOptions {
  let parsed;
  try {
    parsed = parseOptions(args, RUN_OPTIONS);
  } catch (e) {
    if (e instanceof ArgsError) throw usage(e.message);
    throw e;
  }
  if (parsed.rest === undefined) {
    throw usage(
      parsed.positionals.length
        ? `put \`--\` before the command to run: nsbuild run ... -- ${parsed.positionals.join(" ")}`
        : "put `--` before the command to run",
    );
  }
  if (parsed.positionals.length) {
    throw usage(`unexpected argument "${parsed.positionals[0]}" before \`--\``);
  }
  const argv = parsed.rest;
  if (argv.length === 0) throw usage("no command after `--`");
  const rootfs = stringOption(parsed, "rootfs");
  const base = stringOption(parsed, "base");
  if (!rootfs && !base) throw usage("give the root filesystem: --rootfs DIR or --base REF");
  if (rootfs && base) throw usage("give --rootfs DIR or --base REF, not both");
  // Binds keep the order they were given in, --bind and --ro-bind mixed.
  const binds: BindMount[] = [];
  for (const option of parsed.options) {
    if (option.name !== "bind" && option.name !== "ro-bind") continue;
    const [src, dst] = splitBind(String(option.value), `--${option.name}`);
    binds.push({
      source: absolutePath(src),
      target: dst,
      readonly: option.name === "ro-bind",
      directory: true,
    });
  }
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: "/root" };
  if (hostEnv.TERM) env.TERM = hostEnv.TERM;
  for (const pair of stringOptions(parsed, "env")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw usage(`--env needs KEY=VALUE, got "${pair}"`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const tmpfs = stringOptions(parsed, "tmpfs");
  for (const t of tmpfs) {
    if (!t.startsWith("/")) throw usage(`--tmpfs target must be absolute: "${t}"`);
  }
  const cwd = stringOption(parsed, "cwd") ?? "/";
  if (!cwd.startsWith("/")) throw usage(`--cwd must be absolute inside the sandbox: "${cwd}"`);
  const relax = stringOptions(parsed, "relax-seccomp");
  const noSeccomp = flag(parsed, "no-seccomp");
  if (noSeccomp && relax.length) throw usage("give --no-seccomp or --relax-seccomp, not both");
  try {
    denyRules(relax);
  } catch (e) {
    if (e instanceof SeccompPolicyError) throw usage(`--relax-seccomp: ${e.message} (${e.hint})`);
    throw e;
  }
  return {
    rootfs: rootfs ? absolutePath(rootfs) : "",
    ...(base ? { base } : {}),
    binds,
    tmpfs,
    network: flag(parsed, "net"),
    hostname: stringOption(parsed, "hostname") ?? DEFAULT_HOSTNAME,
    env,
    cwd,
    argv,
    seccomp: noSeccomp ? "off" : { relax },
    ...(flag(parsed, "single-id") ? { singleId: true } : {}),
  };
}

function checkRootfs(rootfs: string): void {
  let info;
  try {
    info = Deno.statSync(rootfs);
  } catch {
    throw badInput(
      `--rootfs ${rootfs} does not exist`,
      "give the directory of an unpacked root filesystem",
    );
  }
  if (!info.isDirectory) {
    throw badInput(
      `--rootfs ${rootfs} is not a directory`,
      "give the directory of an unpacked root filesystem",
    );
  }
}

/** Binds need their source's kind to plan the mount point. */
function statBinds(binds: BindMount[]): void {
  for (const bind of binds) {
    let info;
    try {
      info = Deno.statSync(bind.source);
    } catch {
      throw badInput(
        `bind source ${bind.source} does not exist`,
        "create it on the host or fix the path",
      );
    }
    bind.directory = info.isDirectory;
  }
}

export async function runCommand(args: string[]): Promise<number> {
  const { base, singleId, ...options } = parseRunArgs(args, { TERM: Deno.env.get("TERM") });
  if (singleId) acceptSingleIdMap();
  statBinds(options.binds);
  let release = () => {};
  if (base) {
    // Loaded only here: plain --rootfs runs start faster without it.
    const { resolveBaseRef } = await import("./resolve_base.ts");
    const { storeContext } = await import("./store_context.ts");
    const resolved = await resolveBaseRef(base, storeContext());
    options.rootfs = resolved.rootfs;
    release = resolved.release;
  } else {
    checkRootfs(options.rootfs);
  }
  try {
    const executor = loadExecutor();
    const runDir = createRunDir(storeRoot(storeEnv()), runDirOwner());
    // Only a terminal on stdin gets a pty: piped or redirected input keeps
    // the command's stdio exactly as given.
    const terminal = Deno.stdin.isTerminal();
    if (options.seccomp === "off") {
      console.error(
        "nsbuild: warning: --no-seccomp: the command runs without the system call filter",
      );
    }
    const result = await runSandbox({ ...options, runDir, terminal }, executor);
    if (result.error) console.error(`nsbuild: ${result.error.message}`);
    if (result.warning) console.error(`nsbuild: warning: ${result.warning}`);
    return result.status;
  } finally {
    release();
  }
}
