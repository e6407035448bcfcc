/**
 * A sandbox made of the host's own programs, read-only, for nsbuild's own
 * jobs that must run as root of the user namespace but need no base:
 * unpacking an archive (so ownership maps through the subordinate ids) and
 * removing files that subordinate ids own.
 */
import { joinPath as join } from "../util/path.ts";
import type { Executor } from "./executor.ts";
import { runDirOwner, runSandbox, type SandboxResult } from "./run.ts";
import { type BindMount, DEFAULT_PATH } from "./spec.ts";
import { createRunDir } from "../store/root.ts";

/** Host directories a tool may need: programs, libraries, the loader. */
const TOOL_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** The dynamic loader's cache: without it, multiarch libraries are not found. */
const TOOL_FILES = ["/etc/ld.so.cache"];

interface HostLayout {
  /** Top-level symlinks (merged /usr: /bin → usr/bin), recreated in the skeleton. */
  links: [string, string][];
  binds: BindMount[];
}

function hostLayout(): HostLayout {
  const links: [string, string][] = [];
  const binds: BindMount[] = [];
  for (const dir of TOOL_DIRS) {
    let info;
    try {
      info = Deno.lstatSync(dir);
    } catch {
      continue;
    }
    if (info.isSymlink) links.push([dir, Deno.readLinkSync(dir)]);
    else if (info.isDirectory) {
      binds.push({ source: dir, target: dir, readonly: true, directory: true });
    }
  }
  for (const file of TOOL_FILES) {
    try {
      if (Deno.statSync(file).isFile) {
        binds.push({ source: file, target: file, readonly: true, directory: false });
      }
    } catch {
      // Optional.
    }
  }
  return { links, binds };
}

/**
 * The skeleton root (only the top-level symlinks of the host), made once per
 * store and host layout. Built aside and renamed, so concurrent nsbuilds
 * never see half of one.
 */
function skeletonRoot(store: string, layout: HostLayout): string {
  const tag = layout.links.map(([from, to]) => `${from}>${to}`).join(",");
  let hash = 0;
  for (const ch of tag) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) >>> 0;
  const root = join(store, `host-root-${hash.toString(16)}`);
  try {
    Deno.statSync(root);
    return root;
  } catch {
    // Make it below.
  }
  Deno.mkdirSync(store, { recursive: true, mode: 0o700 });
  const temp = Deno.makeTempDirSync({ dir: store, prefix: ".host-root-" });
  Deno.chmodSync(temp, 0o755);
  for (const [from, to] of layout.links) Deno.symlinkSync(to, join(temp, from));
  try {
    Deno.renameSync(temp, root);
  } catch {
    // Another process made it first.
    Deno.removeSync(temp, { recursive: true });
  }
  return root;
}

export interface HostToolRun {
  store: string;
  executor: Executor;
  argv: string[];
  /** Extra binds, after the host's tool directories. */
  binds?: BindMount[];
  stdio?: { stdin?: string; stdout?: string; stderr?: string };
  signal?: AbortSignal;
}

/** Runs one host program as root of the user namespace, offline, seeing only what `binds` names. */
export async function runHostTool(run: HostToolRun): Promise<SandboxResult> {
  const layout = hostLayout();
  const rootfs = skeletonRoot(run.store, layout);
  const runDir = createRunDir(run.store, runDirOwner());
  return await runSandbox(
    {
      rootfs,
      runDir,
      binds: [...layout.binds, ...(run.binds ?? [])],
      tmpfs: [],
      network: false,
      hostname: "nsbuild",
      env: { PATH: DEFAULT_PATH, LC_ALL: "C" },
      cwd: "/",
      argv: run.argv,
      stdio: run.stdio,
      signal: run.signal,
      terminal: false,
    },
    run.executor,
  );
}
