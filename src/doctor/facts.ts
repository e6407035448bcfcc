/**
 * Gathers what `nsbuild doctor` judges: files, stat results, the output of a
 * few host programs, and the outcome of one real sandbox. Nothing here
 * decides; src/doctor/checks.ts does, from these facts alone.
 */
import {
  checkoutLibraryPath,
  EXECUTOR_ABI_VERSION,
  loadExecutor,
} from "../sandbox/executor_ffi.ts";
import { SandboxError } from "../sandbox/errors.ts";
import { runHostTool } from "../sandbox/host_tools.ts";
import { userNameFor } from "../sandbox/idmap.ts";
import { storeRoot } from "../store/root.ts";
import { findProgram } from "../util/which.ts";
import { joinPath as join } from "../util/path.ts";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HelperFact {
  path: string;
  /** st_mode, setuid bit included. */
  mode: number;
  uid: number;
  /** `getcap PATH` output ("" when none); undefined when not asked (setuid root) or getcap is missing. */
  caps?: string;
}

/** How the probe sandbox (`true` over the host's /usr, upper in the store) ended. */
export type SandboxProbe =
  | { ok: true }
  | {
    ok: false;
    /** First line of the error. */
    message: string;
    /** Set when the sandbox itself failed (a SandboxError), not when it could not be started. */
    step?: string;
    syscall?: string;
    errno?: string;
    /** The error's own hint, when it has one. */
    hint?: string;
  };

export interface HostFacts {
  kernelRelease: string;
  uid: number;
  gid: number;
  user?: string;
  /** Contents of the sysctl files, trimmed; undefined where the file does not exist. */
  sysctl: {
    maxUserNamespaces?: string;
    unprivilegedUsernsClone?: string;
    apparmorRestrict?: string;
  };
  helpers: { newuidmap?: HelperFact; newgidmap?: HelperFact };
  subuid: string;
  subgid: string;
  container: {
    dockerenv: boolean;
    containerenv: boolean;
    proc1Cgroup: string;
    /** `systemd-detect-virt --container` output, when that program exists. */
    detectVirt?: string;
    /** This process's Seccomp: line of /proc/self/status (2 = a filter is installed). */
    seccompMode?: number;
  };
  cgroup: {
    /** The file system type mounted on /sys/fs/cgroup (cgroup2, tmpfs for v1 or hybrid). */
    rootType?: string;
    /** The 0:: line's path of /proc/self/cgroup. */
    path?: string;
    /** Owner of this process's cgroup directory, when it is a cgroup2 directory. */
    dirUid?: number;
  };
  mmdebstrap?: { path: string; version?: string };
  executor: {
    path: string;
    /** Whether NSBUILD_EXECUTOR named it, and not the checkout's own (as bin/nsbuild does). */
    explicit: boolean;
    present: boolean;
    abi?: number;
    error?: string;
    expectedAbi: number;
  };
  libseccomp: { paths: string[]; version?: string; loadError?: string };
  store: { root?: string; writable: boolean; error?: string; fstype?: string; availBytes?: number };
  sandbox: SandboxProbe;
}

/**
 * A file's text, or undefined when it cannot be read. Deno lets only
 * --allow-all read /proc and /sys, which bin/nsbuild does not grant: then
 * `cat` reads them.
 */
async function read(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable)) return undefined;
  }
  const out = await command("cat", ["--", path]);
  return out?.code === 0 ? out.stdout : undefined;
}

/** A file's owner, read the same way. */
async function ownerOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).uid ?? undefined;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable)) return undefined;
  }
  const out = await command("stat", ["-c", "%u", "--", path]);
  return out?.code === 0 ? Number(out.stdout.trim()) : undefined;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}

async function command(path: string, args: string[]): Promise<CommandResult | undefined> {
  try {
    const out = await new Deno.Command(path, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch {
    return undefined;
  }
}

async function helper(name: string): Promise<HelperFact | undefined> {
  const path = findProgram(name);
  if (!path) return undefined;
  const info = Deno.statSync(path);
  const fact: HelperFact = { path, mode: info.mode ?? 0, uid: info.uid ?? -1 };
  const setuidRoot = (fact.mode & 0o4000) !== 0 && fact.uid === 0;
  const getcap = setuidRoot ? undefined : findProgram("getcap");
  if (getcap) {
    const out = await command(getcap, [path]);
    if (out?.code === 0) fact.caps = out.stdout.trim();
  }
  return fact;
}

async function cgroupFacts(self: string): Promise<HostFacts["cgroup"]> {
  const facts: HostFacts["cgroup"] = {};
  for (const line of (await read(`${self}/mountinfo`) ?? "").split("\n")) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (fields[4] === "/sys/fs/cgroup" && dash > 0) facts.rootType = fields[dash + 1];
  }
  const own = (await read(`${self}/cgroup`) ?? "").split("\n").find((l) => l.startsWith("0::"));
  if (own) facts.path = own.slice(3);
  if (facts.rootType === "cgroup2" && facts.path !== undefined) {
    facts.dirUid = await ownerOf(join("/sys/fs/cgroup", facts.path));
  }
  return facts;
}

function executorFacts(): HostFacts["executor"] {
  const explicit = Deno.env.get("NSBUILD_EXECUTOR");
  const path = explicit ?? checkoutLibraryPath();
  const facts: HostFacts["executor"] = {
    path,
    explicit: explicit !== undefined && explicit !== checkoutLibraryPath(),
    present: exists(path),
    expectedAbi: EXECUTOR_ABI_VERSION,
  };
  if (Deno.build.standalone && !explicit) {
    // Embedded in this binary: loading it is the only test.
    try {
      loadExecutor();
      facts.present = true;
      facts.abi = EXECUTOR_ABI_VERSION;
    } catch (e) {
      facts.error = (e as Error).message;
    }
    return facts;
  }
  if (!facts.present) return facts;
  try {
    const lib = Deno.dlopen(path, { nsb_abi_version: { parameters: [], result: "i32" } });
    facts.abi = lib.symbols.nsb_abi_version();
    lib.close();
  } catch (e) {
    facts.error = firstLine((e as Error).message);
  }
  return facts;
}

/** Where Debian, Fedora and others put libseccomp.so.2 for this machine's architecture. */
function libseccompCandidates(): string[] {
  const triple = `${Deno.build.arch}-linux-gnu`;
  return [`/usr/lib/${triple}`, `/lib/${triple}`, "/usr/lib64", "/lib64", "/usr/lib", "/lib"]
    .map((dir) => `${dir}/libseccomp.so.2`);
}

function libseccompFacts(): HostFacts["libseccomp"] {
  const paths = libseccompCandidates().filter(exists);
  const facts: HostFacts["libseccomp"] = { paths };
  // As nsbuild loads it: by name, through the dynamic loader, when FFI is allowed at large;
  // else the file found, when FFI is allowed for it; else the files found must do.
  const byName = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  const target = byName ? "libseccomp.so.2" : paths[0];
  if (!target) return facts;
  if (!byName && Deno.permissions.querySync({ name: "ffi", path: target }).state !== "granted") {
    return facts;
  }
  try {
    const lib = Deno.dlopen(target, { seccomp_version: { parameters: [], result: "pointer" } });
    const version = lib.symbols.seccomp_version();
    if (version) {
      const view = new Deno.UnsafePointerView(version);
      facts.version = `${view.getUint32(0)}.${view.getUint32(4)}.${view.getUint32(8)}`;
    }
    lib.close();
  } catch (e) {
    facts.loadError = firstLine((e as Error).message);
  }
  return facts;
}

function storeLocation(env: Record<string, string>): HostFacts["store"] {
  let root;
  try {
    root = storeRoot(env);
  } catch (e) {
    return { writable: false, error: (e as Error).message };
  }
  const facts: HostFacts["store"] = { root, writable: false };
  try {
    Deno.mkdirSync(root, { recursive: true, mode: 0o700 });
    Deno.removeSync(Deno.makeTempFileSync({ dir: root, prefix: ".doctor-" }));
    facts.writable = true;
  } catch (e) {
    facts.error = firstLine((e as Error).message);
  }
  return facts;
}

/** The file system type and free space where the store is (or would be). */
async function storeSpace(facts: HostFacts["store"]): Promise<void> {
  if (!facts.root) return;
  // The nearest existing directory says where the store's files would go.
  let at = facts.root;
  while (!exists(at) && at !== "/") at = at.slice(0, at.lastIndexOf("/")) || "/";
  const df = await command("df", ["-B1", "--output=fstype,avail", at]);
  const fields = df?.code === 0 ? df.stdout.trim().split("\n")[1]?.trim().split(/\s+/) : undefined;
  if (fields?.length === 2 && /^\d+$/.test(fields[1]!)) {
    facts.fstype = fields[0];
    facts.availBytes = Number(fields[1]);
  }
}

/** Runs `true` from the host's /usr in a real sandbox: user namespace, id maps, overlay in the store. */
async function sandboxProbe(store: string | undefined): Promise<SandboxProbe> {
  if (!store) return { ok: false, message: "no store to put the sandbox's overlay in" };
  const timeout = AbortSignal.timeout(15_000);
  try {
    const result = await runHostTool({
      store,
      executor: loadExecutor(),
      argv: ["true"],
      stdio: { stdin: "/dev/null", stdout: "/dev/null", stderr: "/dev/null" },
      signal: timeout,
    });
    if (result.error instanceof SandboxError) return describe(result.error);
    const ran = { ok: false as const, step: "running the command", syscall: "execve" };
    if (result.error) return { ...ran, message: firstLine(result.error.message) };
    if (result.status !== 0) {
      return {
        ...ran,
        message: timeout.aborted
          ? "the probe sandbox did not finish within 15 s"
          : `\`true\` exited with status ${result.status} in the probe sandbox`,
      };
    }
    return { ok: true };
  } catch (e) {
    if (e instanceof SandboxError) return describe(e);
    return { ok: false, message: firstLine((e as Error).message) };
  }
}

function describe(e: SandboxError): SandboxProbe {
  return {
    ok: false,
    message: firstLine(e.message),
    step: e.step,
    syscall: e.syscall,
    errno: e.errnoName,
    hint: e.hint || undefined,
  };
}

export async function probeHost(
  env: Record<string, string> = Deno.env.toObject(),
): Promise<HostFacts> {
  const uid = Deno.uid() ?? 0;
  // Not /proc/self: a `cat` that reads it for us would read its own.
  const self = `/proc/${Deno.pid}`;
  const detectVirt = findProgram("systemd-detect-virt");
  const mmdebstrap = findProgram("mmdebstrap");
  const store = storeLocation(env);
  const executor = executorFacts();
  // The sandbox alone (it installs signal handlers and waits), then the rest side by side.
  const sandbox = await sandboxProbe(store.writable ? store.root : undefined);
  const sysctl = async (path: string) => (await read(`/proc/sys/${path}`))?.trim();
  const [
    [osrelease, maxUserNamespaces, unprivilegedUsernsClone, apparmorRestrict],
    [passwd, subuid, subgid, status, proc1Cgroup],
    [newuidmap, newgidmap, virt, mmVersion, cgroup],
  ] = await Promise.all([
    Promise.all([
      sysctl("kernel/osrelease"),
      sysctl("user/max_user_namespaces"),
      sysctl("kernel/unprivileged_userns_clone"),
      sysctl("kernel/apparmor_restrict_unprivileged_userns"),
    ]),
    Promise.all(["/etc/passwd", "/etc/subuid", "/etc/subgid", `${self}/status`, "/proc/1/cgroup"]
      .map(read)),
    Promise.all([
      helper("newuidmap"),
      helper("newgidmap"),
      detectVirt ? command(detectVirt, ["--container"]) : undefined,
      mmdebstrap ? command(mmdebstrap, ["--version"]) : undefined,
      cgroupFacts(self),
      storeSpace(store),
    ]),
  ]);
  const seccomp = /^Seccomp:\s*(\d+)/m.exec(status ?? "")?.[1];
  return {
    kernelRelease: osrelease ?? "",
    uid,
    gid: Deno.gid() ?? 0,
    user: userNameFor(passwd ?? "", uid) ?? env.USER,
    sysctl: { maxUserNamespaces, unprivilegedUsernsClone, apparmorRestrict },
    helpers: { newuidmap, newgidmap },
    subuid: subuid ?? "",
    subgid: subgid ?? "",
    container: {
      dockerenv: exists("/.dockerenv"),
      containerenv: exists("/run/.containerenv"),
      proc1Cgroup: proc1Cgroup ?? "",
      detectVirt: virt ? virt.stdout.trim() : undefined,
      seccompMode: seccomp === undefined ? undefined : Number(seccomp),
    },
    cgroup,
    mmdebstrap: mmdebstrap
      ? {
        path: mmdebstrap,
        version: mmVersion?.code === 0 ? firstLine(mmVersion.stdout) : undefined,
      }
      : undefined,
    executor,
    libseccomp: libseccompFacts(),
    store,
    sandbox,
  };
}
