/**
 * The operations the executor carries out, in order, and the plan that holds
 * them. These mirror ffi/executor.h; encode.ts turns them into its bytes.
 */

export type Op =
  /** Monitor: remove this host directory tree when the sandbox ends. */
  | { op: "remove-on-exit"; path: string }
  | { op: "mount"; source: string; target: string; fstype: string; data: string; flags: number }
  /** Clone a host mount tree into a slot, before pivot_root. */
  | {
    op: "tree-clone";
    slot: number;
    source: string;
    recursive: boolean;
    readonly: boolean;
    nosuidNodev: boolean;
  }
  /** A fresh proc for the sandbox's PID namespace, into a slot. */
  | { op: "proc-mount"; slot: number }
  | { op: "pivot-root"; newRoot: string }
  | { op: "mkdir-p"; path: string; mode: number }
  | { op: "mkfile-p"; path: string; mode: number }
  | { op: "move-mount"; slot: number; target: string }
  | { op: "symlink"; target: string; path: string }
  | { op: "readonly"; path: string; optional: boolean }
  | { op: "mask-file"; path: string; optional: boolean }
  | { op: "hostname"; name: string }
  | { op: "domainname"; name: string }
  | { op: "loopback-up" }
  | { op: "chdir"; path: string }
  | { op: "umask"; mask: number }
  | { op: "keep-fd"; fd: number }
  /**
   * Open a host path before pivot_root as the command's stdin (read) or
   * stdout/stderr (write, append): a FIFO the caller reads, or a log file.
   */
  | { op: "open-stdio"; fd: 0 | 1 | 2; path: string; mode: "read" | "write" | "append" }
  /**
   * In the command just before exec: keep only these capabilities (a bit
   * per CAP_* number), in every set including the bounding set.
   */
  | { op: "drop-caps"; keep: bigint }
  /** In the command, the last step before exec: a seccomp filter (struct sock_filter[]). */
  | { op: "seccomp"; program: Uint8Array }
  /** The monotonic and boot-time clocks run this many seconds ahead (a time namespace). */
  | { op: "time-offset"; seconds: number }
  /** Always last: candidates are tried in order, as execvp tries PATH. */
  | { op: "exec"; candidates: string[]; argv: string[]; env: string[] };

export type OpName = Op["op"];

export interface Plan {
  /** CLONE_NEW* flags for init (the user namespace is handled apart). */
  namespaces: number;
  /** A user namespace to join, or -1 to create one and wait for its maps. */
  usernsFd: number;
  noNewPrivs: boolean;
  /** Start the command in a new session, without a controlling terminal. */
  newSession: boolean;
  /**
   * Give the command a pseudo-terminal of the sandbox's own devpts as its
   * controlling terminal, relayed by init to the host's stdin and stdout.
   */
  terminal: boolean;
  ops: Op[];
}

export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  BIND: 0x1000,
  REC: 0x4000,
  PRIVATE: 0x40000,
} as const;

/** The host path an op touches, for error messages. */
export function opPath(op: Op): string | undefined {
  switch (op.op) {
    case "remove-on-exit":
    case "mkdir-p":
    case "mkfile-p":
    case "readonly":
    case "mask-file":
    case "chdir":
    case "open-stdio":
      return op.path;
    case "symlink":
      return op.path;
    case "mount":
    case "move-mount":
      return op.target;
    case "tree-clone":
      return op.source;
    case "pivot-root":
      return op.newRoot;
    case "exec":
      return op.argv[0];
    case "hostname":
    case "domainname":
      return op.name;
    default:
      return undefined;
  }
}

/** The system call behind an op, as a person reading an error knows it. */
export function opSyscall(op: Op): string {
  switch (op.op) {
    case "remove-on-exit":
      return "unlinkat";
    case "mount":
      return `mount ${op.fstype || "bind"}`;
    case "tree-clone":
      return "open_tree";
    case "proc-mount":
      return "fsmount proc";
    case "pivot-root":
      return "pivot_root";
    case "mkdir-p":
      return "mkdir";
    case "mkfile-p":
      return "open(O_CREAT)";
    case "move-mount":
      return "move_mount";
    case "symlink":
      return "symlink";
    case "readonly":
      return "mount_setattr(MOUNT_ATTR_RDONLY)";
    case "mask-file":
      return "mount bind /dev/null";
    case "hostname":
      return "sethostname";
    case "domainname":
      return "setdomainname";
    case "drop-caps":
      return "prctl(PR_CAPBSET_DROP)/capset";
    case "seccomp":
      return "seccomp(SECCOMP_SET_MODE_FILTER)";
    case "time-offset":
      return "unshare(CLONE_NEWTIME)";
    case "loopback-up":
      return "ioctl(SIOCSIFFLAGS, lo)";
    case "chdir":
      return "chdir";
    case "umask":
      return "umask";
    case "keep-fd":
      return "fcntl";
    case "open-stdio":
      return "open";
    case "exec":
      return "execve";
  }
}
