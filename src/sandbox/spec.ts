/** What a caller asks of one sandbox; the planner turns it into ops. */

export interface BindMount {
  source: string;
  target: string;
  readonly: boolean;
  /** Whether the source is a directory (else a file): decides the mount point's kind. */
  directory: boolean;
}

export interface SandboxSpec {
  /** The lowest directory of the root overlay; never modified. */
  rootfs: string;
  /** Read-only layers stacked on the rootfs, lowest first (committed build steps). */
  layers?: string[];
  /**
   * Where the overlay writes, when the caller keeps what the command wrote
   * (a build step's layer); it must be an empty directory on the store's
   * filesystem. Default: inside the run directory, removed with it.
   */
  upperDir?: string;
  /**
   * Host paths opened as the command's stdin, stdout and stderr (a FIFO the
   * caller reads or writes, or a log file appended to); unset ones are
   * inherited from nsbuild.
   */
  stdio?: { stdin?: string; stdout?: string; stderr?: string };
  /** A fresh per-run directory (upper, work, root inside it), removed at the end. */
  runDir: string;
  binds: BindMount[];
  /** Directories made in the new root (in the overlay) before the binds: a build's /build and /out. */
  createDirs?: string[];
  /** Paths given a fresh tmpfs, after the binds. */
  tmpfs: string[];
  /** Share the host's network instead of a namespace with only lo. */
  network: boolean;
  hostname: string;
  /** The whole environment of the command: nothing is inherited. */
  env: Record<string, string>;
  cwd: string;
  argv: string[];
  /** Whether gid 5 (tty) is mapped, so devpts can use it. */
  ttyGroupMapped: boolean;
  /** A user namespace to join instead of creating one (-1: create). */
  usernsFd: number;
  /**
   * Give the command a terminal of its own (the caller's stdin is one): a
   * pty from the sandbox's devpts, never the caller's terminal itself.
   */
  terminal?: boolean;
  /**
   * The system call filter: the default one with the named groups relaxed
   * (seccomp_rules.ts), or "off" (--no-seccomp; the caller records it).
   */
  seccomp?: { relax: string[] } | "off";
  /** The compiled filter for `seccomp`: runSandbox fills it in, so the planner stays pure. */
  seccompProgram?: Uint8Array;
  /** Seconds the monotonic and boot-time clocks run ahead, in a time namespace of their own. */
  clockOffsetSeconds?: number;
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_HOSTNAME = "nsbuild";
/** What a Linux system without a NIS domain reports; never the host's. */
export const DEFAULT_DOMAINNAME = "(none)";
