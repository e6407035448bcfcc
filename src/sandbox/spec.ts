/** What a caller asks of one sandbox; the planner turns it into ops. */

export interface BindMount {
  source: string;
  target: string;
  readonly: boolean;
  /** Whether the source is a directory (else a file): decides the mount point's kind. */
  directory: boolean;
}

export interface SandboxSpec {
  /** The lower directory of the root overlay; never modified. */
  rootfs: string;
  /** A fresh per-run directory (upper, work, root inside it), removed at the end. */
  runDir: string;
  binds: BindMount[];
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
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_HOSTNAME = "nsbuild";
