/**
 * Typed sandbox errors: each names the step, the system call, the path, the
 * errno and a hint chosen by what failed and how.
 */
import { ERRNO, errnoName, errnoText } from "./errno.ts";
import { type Op, opPath, opSyscall } from "./ops.ts";
import { Step, StepSyscall } from "./executor.ts";

export class SandboxError extends Error {
  override name = "SandboxError";
  constructor(
    readonly step: string,
    readonly syscall: string,
    readonly path: string | undefined,
    readonly errno: number,
    readonly hint: string,
  ) {
    const where = path === undefined ? syscall : `${syscall} ${path}`;
    super(`${step}: ${where}: ${errnoText(errno)}${hint ? `\n  hint: ${hint}` : ""}`);
  }
  get errnoName(): string {
    return errnoName(this.errno);
  }
}

const USERNS_HINT = "unprivileged user namespaces look disabled: check that " +
  "sysctl user.max_user_namespaces is above 0, kernel.unprivileged_userns_clone is 1 " +
  "where it exists, and on Ubuntu 23.10+ kernel.apparmor_restrict_unprivileged_userns is 0 " +
  "(or an AppArmor profile allows nsbuild); inside Docker or Kubernetes the container's " +
  "seccomp profile may block them; `nsbuild doctor` checks each of these";

/** A hint for an op that failed with an errno, or "" when none helps. */
export function hintForOp(op: Op, errno: number): string {
  if (errno === ERRNO.ENOSYS) {
    return "this kernel lacks a system call nsbuild needs (Linux 5.12 or newer is required)";
  }
  switch (op.op) {
    case "mount":
      if (op.fstype === "overlay") {
        return "overlayfs refused the root filesystem: it needs Linux 5.11+ with overlay in user " +
          "namespaces, an upper directory on a filesystem with user xattrs (ext4, xfs, btrfs; " +
          "tmpfs needs 6.6+), and a rootfs it can read; set NSBUILD_HOME to a store on such a " +
          "filesystem";
      }
      return errno === ERRNO.EPERM
        ? `the kernel refused to mount ${op.fstype || "a bind"} in a user namespace`
        : "";
    case "proc-mount":
      return "a fresh /proc cannot be mounted when the host's /proc is partly covered " +
        "(common inside containers: run nsbuild on the host, or give the container an " +
        "unmasked /proc)";
    case "tree-clone":
      if (errno === ERRNO.ENOENT) return `the bind source ${op.source} does not exist`;
      if (errno === ERRNO.EACCES) return `the bind source ${op.source} is not readable by you`;
      return "";
    case "mkdir-p":
    case "mkfile-p":
      if (errno === ERRNO.EROFS) {
        return `cannot create the mount point ${op.path}: its parent is read-only; ` +
          "pick a target under a writable directory";
      }
      if (errno === ERRNO.ENOTDIR) {
        return `a component of ${op.path} is not a directory in the rootfs`;
      }
      return "";
    case "move-mount":
      return errno === ERRNO.ENOTDIR || errno === 21
        ? `the bind source and target ${op.target} must both be files or both directories`
        : "";
    case "chdir":
      if (errno === ERRNO.ENOENT) {
        return `the working directory ${op.path} does not exist in the sandbox; pass an existing --cwd`;
      }
      if (errno === ERRNO.ENOTDIR) return `--cwd ${op.path} is not a directory in the sandbox`;
      return errno === ERRNO.EACCES ? `root inside may not enter ${op.path}: check its mode` : "";
    case "pivot-root":
      return "pivot_root needs the new root to be a mount point in a private mount namespace";
    default:
      return "";
  }
}

/** The error for a failure record that names an op of the plan. */
export function opError(ops: Op[], opIndex: number, errno: number): SandboxError {
  const op = ops[opIndex];
  if (op === undefined) {
    const step = Step[opIndex] ?? `protocol step ${opIndex}`;
    const syscall = StepSyscall[opIndex] ?? "unknown";
    let hint = "";
    if (opIndex === -2 || opIndex === -3 || opIndex === -4) {
      hint = errno === ERRNO.EPERM || errno === ERRNO.ENOSPC || errno === ERRNO.EINVAL
        ? USERNS_HINT
        : "";
    }
    return new SandboxError(step, syscall, undefined, errno, hint);
  }
  return new SandboxError(
    `setting up the sandbox (op ${opIndex}, ${op.op})`,
    opSyscall(op),
    opPath(op),
    errno,
    hintForOp(op, errno),
  );
}

/** The error for clone() of the monitor failing in the parent. */
export function spawnError(errno: number): SandboxError {
  const hint = errno === ERRNO.EPERM || errno === ERRNO.ENOSPC || errno === ERRNO.EINVAL
    ? USERNS_HINT
    : "";
  return new SandboxError(
    "creating the user namespace",
    "clone(CLONE_NEWUSER)",
    undefined,
    errno,
    hint,
  );
}
