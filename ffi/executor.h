/* The nsbuild executor: carries out a sandbox plan built by TypeScript.
 *
 * The plan is a flat little-endian buffer (see src/sandbox/encode.ts, which
 * owns the format and must change in step with this header):
 *
 *   header  u32 magic "NSBP", u32 version, u32 total length, u32 op count,
 *           u32 namespace clone flags, i32 user namespace fd (-1: create one
 *           and wait for the parent to write its id maps), u32 flags, u32 0
 *   op      u32 opcode, u32 size in bytes (header and strings, a multiple
 *           of 4), u32 arg0, u32 arg1, u32 string count, then that many
 *           NUL-terminated strings, zero-padded to the op's size
 *
 * Everything after clone() runs in a copy of a multithreaded process, so it
 * uses raw system calls only: no malloc, no stdio, no locks.
 */
#ifndef NSBUILD_EXECUTOR_H
#define NSBUILD_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

#define NSB_PLAN_MAGIC 0x5042534eu /* "NSBP" */
#define NSB_PLAN_VERSION 1u
#define NSB_HEADER_SIZE 32u
#define NSB_OP_HEADER_SIZE 20u
#define NSB_MAX_PLAN_SIZE (1u << 20)
#define NSB_MAX_OPS 4096u
#define NSB_MAX_SLOTS 256u
#define NSB_MAX_ARGS 4096u

/* Header flags. */
#define NSB_FLAG_NO_NEW_PRIVS 1u
#define NSB_FLAG_NEW_SESSION 2u
/* Give the command a pseudo-terminal of the sandbox's own devpts as its
 * controlling terminal, relayed by init to the host's stdin and stdout. */
#define NSB_FLAG_TERMINAL 4u
#define NSB_KNOWN_FLAGS \
  (NSB_FLAG_NO_NEW_PRIVS | NSB_FLAG_NEW_SESSION | NSB_FLAG_TERMINAL)

enum nsb_opcode {
  /* Carried out by the monitor when it exits: remove a host directory tree
   * from inside the user namespace, so that files owned by subordinate ids
   * go too. strings: path */
  NSB_OP_REMOVE_ON_EXIT = 1,
  /* A generic mount(2). arg0/arg1: flags low/high; strings: source, target,
   * fstype, data ("" stands for NULL). */
  NSB_OP_MOUNT = 2,
  /* open_tree(OPEN_TREE_CLONE) of a host path into slot arg0, before
   * pivot_root. arg1: NSB_TREE_* bits; strings: source. */
  NSB_OP_TREE_CLONE = 3,
  /* fsopen/fsmount a fresh proc for this PID namespace into slot arg0, done
   * before pivot_root while the host's /proc is still visible. */
  NSB_OP_PROC_MOUNT = 4,
  /* pivot_root into a directory and detach the old root. strings: newroot */
  NSB_OP_PIVOT_ROOT = 5,
  /* mkdir -p. arg0: mode; strings: path */
  NSB_OP_MKDIR_P = 6,
  /* Create an empty file (and its parents) if missing. arg0: mode;
   * strings: path */
  NSB_OP_MKFILE_P = 7,
  /* move_mount the detached tree in slot arg0 onto a path. strings: target */
  NSB_OP_MOVE_MOUNT = 8,
  /* strings: target, linkpath */
  NSB_OP_SYMLINK = 9,
  /* Bind a path onto itself and make it read-only, recursively.
   * arg1: NSB_OPTIONAL; strings: path */
  NSB_OP_READONLY = 10,
  /* Bind /dev/null over a file. arg1: NSB_OPTIONAL; strings: path */
  NSB_OP_MASK_FILE = 11,
  /* strings: hostname */
  NSB_OP_HOSTNAME = 12,
  /* Bring the loopback interface up. */
  NSB_OP_LOOPBACK_UP = 13,
  /* strings: path */
  NSB_OP_CHDIR = 14,
  /* arg0: mask */
  NSB_OP_UMASK = 15,
  /* Keep descriptor arg0 open across exec. */
  NSB_OP_KEEP_FD = 16,
  /* Must be last. arg0: argc, arg1: envc; strings: the candidate paths
   * (string count - argc - envc of them, tried in order like execvp), then
   * argv, then envp. */
  NSB_OP_EXEC = 17,
  /* Open a host path (before pivot_root) and make it descriptor arg0 (0, 1
   * or 2) of init and so of the command: how a caller reads the command's
   * output through a FIFO or feeds it input. arg1: NSB_STDIO_* mode;
   * strings: path */
  NSB_OP_OPEN_STDIO = 18,
  /* In the command, before exec: drop every capability not in the 64-bit
   * mask arg0 (low) | arg1 (high) from the bounding, ambient, inheritable,
   * permitted and effective sets, so that root of the sandbox cannot
   * unmount, remount or mount over what the plan set up. */
  NSB_OP_DROP_CAPS = 19,
  /* In the command, the last thing before exec: install a seccomp filter of
   * arg0 BPF instructions, given as one hex string (16 digits each). */
  NSB_OP_SECCOMP = 20,
  /* In the monitor, before init is cloned: a new time namespace whose
   * monotonic and boot-time clocks run arg0 seconds ahead. */
  NSB_OP_TIME_OFFSET = 21,
  /* strings: domainname */
  NSB_OP_DOMAINNAME = 22,
};

#define NSB_MAX_FILTER 4096u

#define NSB_STDIO_READ 0u
#define NSB_STDIO_WRITE 1u
#define NSB_STDIO_APPEND 2u

#define NSB_TREE_RECURSIVE 1u
#define NSB_TREE_READONLY 2u
#define NSB_TREE_NOSUID_NODEV 4u
#define NSB_OPTIONAL 1u

/* Failures cross the process boundary as fixed records on a close-on-exec
 * pipe. op_index is an index into the plan's ops, or one of the negative
 * NSB_STEP_* values for the protocol steps around them. */
enum nsb_record_kind {
  NSB_REC_SETUP_FAILED = 1,
  NSB_REC_EXEC_FAILED = 2,
  NSB_REC_CLEANUP_FAILED = 3,
  /* The command's status, sent before the monitor removes the run
   * directory: the caller can go on while the monitor cleans up. */
  NSB_REC_EXITED = 4,
};

enum nsb_step {
  NSB_STEP_WAIT_IDMAP = -1,
  NSB_STEP_SETNS_USER = -2,
  NSB_STEP_SET_IDS = -3,
  NSB_STEP_CLONE_INIT = -4,
  NSB_STEP_CLOSE_FDS = -5,
  NSB_STEP_FORK_COMMAND = -6,
  NSB_STEP_NEW_SESSION = -7,
  NSB_STEP_NO_NEW_PRIVS = -8,
  NSB_STEP_PDEATHSIG = -9,
  NSB_STEP_OPEN_PTMX = -10,
  NSB_STEP_UNLOCK_PTY = -11,
  NSB_STEP_PTY_PEER = -12,
  NSB_STEP_PTY_SETTINGS = -13,
  NSB_STEP_CONTROLLING_TTY = -14,
  NSB_STEP_PTY_STDIO = -15,
  NSB_STEP_SIGNALFD = -16,
  NSB_STEP_TIME_NS = -17,
};

struct nsb_record {
  int32_t kind;
  int32_t op_index;
  int32_t err;
  int32_t value;
};

/* The operations of nsb_call (call.c); src/sandbox/executor_ffi.ts
 * mirrors these numbers. */
enum nsb_call_op {
  NSB_CALL_ABI_VERSION = 1,
  NSB_CALL_VALIDATE = 2,
  NSB_CALL_SPAWN = 3,
  NSB_CALL_RUN_HELPERS = 4,
  NSB_CALL_WRITE_MAPS = 5,
  NSB_CALL_OPEN_USERNS = 6,
  NSB_CALL_RELEASE = 7,
  NSB_CALL_READ_RECORDS = 8,
  NSB_CALL_KILL = 9,
  NSB_CALL_CLOSE = 10,
  NSB_CALL_MKFIFO = 11,
};

/* Exported entry points: Deno binds nsb_call, nsb_wait and nsb_wait_exit
 * (which block, so they run off the JS thread) and, to tell an old
 * library by its ABI, nsb_abi_version. The rest are reached through
 * nsb_call. */
int32_t nsb_call(int32_t call, int32_t a, int32_t b, const uint8_t *in,
                 uint32_t in_len, uint8_t *out, uint32_t out_len);
int32_t nsb_abi_version(void);
int32_t nsb_validate(const uint8_t *plan, uint32_t len);
int32_t nsb_spawn(const uint8_t *plan, uint32_t len, int32_t *out);
int32_t nsb_run_helpers(int32_t pid, const uint8_t *buf, uint32_t len);
int32_t nsb_open_userns(int32_t pid);
int32_t nsb_write_maps(int32_t pid, const uint8_t *uid_map, uint32_t uid_len,
                       const uint8_t *gid_map, uint32_t gid_len,
                       int32_t deny_setgroups);
int32_t nsb_release(int32_t sync_fd, int32_t go);
int32_t nsb_wait(int32_t pid, int32_t *status);
int32_t nsb_wait_exit(int32_t fd, uint8_t *buf, uint32_t len);
int32_t nsb_read_records(int32_t fd, uint8_t *buf, uint32_t len);
int32_t nsb_kill(int32_t pid, int32_t sig);
int32_t nsb_close(int32_t fd);
/* A FIFO for a sandbox's stdio (Deno has no mkfifo). 0 or -errno. */
int32_t nsb_mkfifo(const char *path, uint32_t mode);

/* Internal, shared between the executor's files. */
struct nsb_op {
  uint32_t opcode;
  uint32_t arg0;
  uint32_t arg1;
  uint32_t nstr;
  const char *str; /* the first string; the rest follow, NUL-separated */
};

struct nsb_plan {
  const uint8_t *buf;
  uint32_t len;
  uint32_t op_count;
  uint32_t clone_flags;
  int32_t userns_fd;
  uint32_t flags;
};

int nsb_plan_parse(const uint8_t *buf, uint32_t len, struct nsb_plan *plan);
/* Walks to op i; returns the offset of the next op, 0 at the end. */
uint32_t nsb_plan_op(const struct nsb_plan *plan, uint32_t offset,
                     struct nsb_op *op);
const char *nsb_next_str(const char *s);

/* The host terminal's settings, read by nsb_spawn in the parent before
 * clone: TypeScript switches the host terminal to raw mode right after
 * spawn returns, and the sandbox's terminal must start from the cooked
 * settings the user had. */
struct nsb_terminal {
  int has_termios;
  struct termios termios;
};

void nsb_terminal_capture(struct nsb_terminal *term, int fd);
/* In init: opens a pseudo-terminal of the sandbox's devpts and gives it the
 * host's settings and window size. 0, or -errno with *step set. */
int nsb_pty_open(const struct nsb_terminal *host, int *master, int *slave,
                 int *step);
/* In the command, after setsid(): makes the slave its controlling terminal
 * and its stdin, stdout and stderr. 0, or -errno with *step set. */
int nsb_pty_attach(int master, int slave, int *step);
/* In init: relays between the host's stdin/stdout and the master until the
 * command exits; returns its status (128+N for signal N). */
int nsb_pty_relay(int master, int sigfd, pid_t cmd);
/* In init: waits for the command, reaping orphans and forwarding signals;
 * returns its status. */
int nsb_wait_command(pid_t cmd);

int nsb_run_init(const struct nsb_plan *plan, int report_fd,
                 const struct nsb_terminal *host);
int nsb_remove_tree(const char *path);
void nsb_set_title(const char *title);
void nsb_report(int fd, int32_t kind, int32_t op_index, int32_t err,
                int32_t value);

#endif
