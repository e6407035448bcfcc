/**
 * The pure planner: SandboxSpec → Plan. No system calls; every decision about
 * mounts, namespaces and the environment is made here and can be asserted on.
 */
import { CLONE, MS, type Op, type Plan } from "./ops.ts";
import { DEFAULT_DOMAINNAME, DEFAULT_PATH, type SandboxSpec } from "./spec.ts";
import { keptCapabilityMask } from "./capabilities.ts";

/** Device nodes bound from the host into the sandbox's /dev tmpfs. */
export const DEV_NODES = ["null", "zero", "full", "random", "urandom", "tty"];

/** /proc entries hidden behind /dev/null: they leak host state or act on the host. */
export const PROC_MASKED = ["kcore", "keys", "timer_list", "sched_debug", "sysrq-trigger"];

/** /proc subtrees kept read-only. */
export const PROC_READONLY = ["sys", "irq", "bus"];

export class PlanError extends Error {
  override name = "PlanError";
}

/** Overlay options are comma-separated and colon-joined: such paths cannot be expressed. */
function overlayPath(path: string, what: string): string {
  if (/[,:\\]/.test(path)) {
    throw new PlanError(
      `${what} ${path} contains ',', ':' or '\\', which overlayfs options cannot carry: ` +
        "use a path without them (a symlink-free alias works)",
    );
  }
  return path;
}

function absolute(path: string, what: string): string {
  if (!path.startsWith("/")) throw new PlanError(`${what} must be an absolute path: ${path}`);
  return path;
}

/** Every place execve should try, in order, like execvp with the sandbox's PATH. */
export function execCandidates(command: string, path: string | undefined): string[] {
  if (command.includes("/")) return [command];
  const dirs = (path ?? DEFAULT_PATH).split(":").map((d) => d === "" ? "." : d);
  return dirs.map((d) => `${d.replace(/\/+$/, "")}/${command}`);
}

export function planSandbox(spec: SandboxSpec): Plan {
  const run = absolute(spec.runDir, "the run directory");
  const rootfs = absolute(spec.rootfs, "--rootfs");
  const newRoot = `${run}/root`;
  const ops: Op[] = [];
  ops.push({ op: "remove-on-exit", path: run });
  // Nothing mounted from here on propagates back to the host.
  ops.push({
    op: "mount",
    source: "",
    target: "/",
    fstype: "",
    data: "",
    flags: MS.REC | MS.PRIVATE,
  });
  // Opened while host paths are still visible, before the root changes.
  const stdio = spec.stdio ?? {};
  if (stdio.stdin) {
    ops.push({ op: "open-stdio", fd: 0, path: absolute(stdio.stdin, "stdin"), mode: "read" });
  }
  if (stdio.stdout) {
    ops.push({ op: "open-stdio", fd: 1, path: absolute(stdio.stdout, "stdout"), mode: "append" });
  }
  if (stdio.stderr) {
    ops.push({ op: "open-stdio", fd: 2, path: absolute(stdio.stderr, "stderr"), mode: "append" });
  }
  const upper = spec.upperDir ? absolute(spec.upperDir, "the upper directory") : `${run}/upper`;
  for (const dir of [upper, `${run}/work`, newRoot]) {
    ops.push({ op: "mkdir-p", path: dir, mode: 0o755 });
  }
  // overlayfs lists lower directories top first.
  const lowers = [...(spec.layers ?? [])].reverse().map((layer) =>
    overlayPath(absolute(layer, "a layer"), "the layer")
  );
  lowers.push(overlayPath(rootfs, "--rootfs"));
  ops.push({
    op: "mount",
    source: "overlay",
    target: newRoot,
    fstype: "overlay",
    data: `lowerdir=${lowers.join(":")},upperdir=${overlayPath(upper, "the upper directory")},` +
      `workdir=${overlayPath(`${run}/work`, "the run directory")},userxattr`,
    flags: MS.NODEV,
  });

  // Sources are taken from the host before pivot_root, as detached mounts.
  let nextSlot = 0;
  const procSlot = nextSlot++;
  ops.push({ op: "proc-mount", slot: procSlot });
  const devSlots = DEV_NODES.map((name) => {
    const slot = nextSlot++;
    ops.push({
      op: "tree-clone",
      slot,
      source: `/dev/${name}`,
      recursive: false,
      readonly: false,
      nosuidNodev: false,
    });
    return { name, slot };
  });
  const bindSlots = spec.binds.map((bind) => {
    const slot = nextSlot++;
    ops.push({
      op: "tree-clone",
      slot,
      source: absolute(bind.source, "a bind source"),
      recursive: true,
      readonly: bind.readonly,
      nosuidNodev: true,
    });
    return { bind, slot };
  });

  // From here paths resolve inside the new root: a symlink in the rootfs
  // cannot lead a mount point out of it.
  ops.push({ op: "pivot-root", newRoot });
  ops.push({ op: "mkdir-p", path: "/proc", mode: 0o555 });
  ops.push({ op: "move-mount", slot: procSlot, target: "/proc" });

  ops.push({ op: "mkdir-p", path: "/dev", mode: 0o755 });
  ops.push({
    op: "mount",
    source: "tmpfs",
    target: "/dev",
    fstype: "tmpfs",
    data: "mode=755,size=64k",
    flags: MS.NOSUID | MS.NOEXEC,
  });
  for (const { name, slot } of devSlots) {
    ops.push({ op: "mkfile-p", path: `/dev/${name}`, mode: 0o666 });
    ops.push({ op: "move-mount", slot, target: `/dev/${name}` });
  }
  ops.push({ op: "symlink", target: "/proc/self/fd", path: "/dev/fd" });
  ["stdin", "stdout", "stderr"].forEach((name, fd) => {
    ops.push({ op: "symlink", target: `/proc/self/fd/${fd}`, path: `/dev/${name}` });
  });
  ops.push({ op: "mkdir-p", path: "/dev/pts", mode: 0o755 });
  ops.push({
    op: "mount",
    source: "devpts",
    target: "/dev/pts",
    fstype: "devpts",
    data: `newinstance,ptmxmode=0666,mode=620${spec.ttyGroupMapped ? ",gid=5" : ""}`,
    flags: MS.NOSUID | MS.NOEXEC,
  });
  ops.push({ op: "symlink", target: "pts/ptmx", path: "/dev/ptmx" });
  ops.push({ op: "mkdir-p", path: "/dev/shm", mode: 0o1777 });
  ops.push({
    op: "mount",
    source: "shm",
    target: "/dev/shm",
    fstype: "tmpfs",
    data: "mode=1777",
    flags: MS.NOSUID | MS.NODEV,
  });
  ops.push({ op: "mkdir-p", path: "/tmp", mode: 0o1777 });
  ops.push({
    op: "mount",
    source: "tmpfs",
    target: "/tmp",
    fstype: "tmpfs",
    data: "mode=1777",
    flags: MS.NOSUID | MS.NODEV,
  });

  for (const name of PROC_MASKED) {
    ops.push({ op: "mask-file", path: `/proc/${name}`, optional: true });
  }
  for (const name of PROC_READONLY) {
    ops.push({ op: "readonly", path: `/proc/${name}`, optional: true });
  }

  for (const dir of spec.createDirs ?? []) {
    ops.push({ op: "mkdir-p", path: absolute(dir, "a directory to create"), mode: 0o755 });
  }
  for (const { bind, slot } of bindSlots) {
    const target = absolute(bind.target, "a bind target");
    ops.push(
      bind.directory
        ? { op: "mkdir-p", path: target, mode: 0o755 }
        : { op: "mkfile-p", path: target, mode: 0o644 },
    );
    ops.push({ op: "move-mount", slot, target });
  }
  for (const target of spec.tmpfs) {
    ops.push({ op: "mkdir-p", path: absolute(target, "a --tmpfs target"), mode: 0o755 });
    ops.push({
      op: "mount",
      source: "tmpfs",
      target,
      fstype: "tmpfs",
      data: "mode=755",
      flags: MS.NOSUID | MS.NODEV,
    });
  }

  ops.push({ op: "hostname", name: spec.hostname });
  ops.push({ op: "domainname", name: DEFAULT_DOMAINNAME });
  if (spec.clockOffsetSeconds) ops.push({ op: "time-offset", seconds: spec.clockOffsetSeconds });
  if (!spec.network) ops.push({ op: "loopback-up" });
  ops.push({ op: "chdir", path: absolute(spec.cwd, "--cwd") });
  ops.push({ op: "umask", mask: 0o022 });
  ops.push({ op: "drop-caps", keep: keptCapabilityMask() });
  if (spec.seccomp !== "off") {
    if (!spec.seccompProgram) throw new PlanError("the seccomp filter was not compiled");
    ops.push({ op: "seccomp", program: spec.seccompProgram });
  }
  const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  const command = spec.argv[0];
  if (command === undefined) throw new PlanError("no command to run");
  ops.push({
    op: "exec",
    candidates: execCandidates(command, spec.env.PATH),
    argv: spec.argv,
    env,
  });

  let namespaces = CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWCGROUP;
  if (!spec.network) namespaces |= CLONE.NEWNET;
  return {
    namespaces,
    usernsFd: spec.usernsFd,
    noNewPrivs: true,
    newSession: true,
    terminal: spec.terminal ?? false,
    ops,
  };
}
