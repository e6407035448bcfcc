/* Entry points called from Deno, and the monitor process.
 *
 * Deno (main thread) ──clone──▶ monitor (new or joined user namespace)
 *                                  │ waits for the id maps, drops groups
 *                                  └─clone(CLONE_NEW*)─▶ init, pid 1
 *                                                         │ runs the ops
 *                                                         └─fork─▶ command
 *
 * The monitor stays in the host's mount namespace but inside the user
 * namespace, so when the sandbox ends (or Deno dies and the parent-death
 * signal arrives) it can kill init and remove the run directory, files owned
 * by subordinate ids included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

/* 2: the plan header gained NSB_FLAG_TERMINAL; 5: one nsb_call. */
#define NSB_ABI_VERSION 5
#define EXIT_SETUP 125
/* A real-time signal that nothing else sends the monitor. */
#define PDEATH_SIGNAL (SIGRTMIN + 4)

int32_t nsb_abi_version(void) { return NSB_ABI_VERSION; }

/* Where the kernel shows this process's command line from. The monitor and
 * init are copies of Deno that never exec, so without a rename `ps` would
 * show Deno's command line, host paths included, as pid 1 in the sandbox. */
static char *arg_start, *arg_end;

static void find_arg_area(void) {
  char buf[2048];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p)
    return;
  /* Field 3 follows the ')'; arg_start and arg_end are fields 48 and 49. */
  unsigned long values[2] = {0, 0};
  int field = 2;
  for (p++; *p && field < 49; p++) {
    if (*p != ' ')
      continue;
    field++;
    if (field == 48 || field == 49)
      values[field - 48] = strtoul(p + 1, 0, 10);
  }
  if (values[0] && values[1] > values[0]) {
    arg_start = (char *)values[0];
    arg_end = (char *)values[1];
  }
}

void nsb_set_title(const char *title) {
  prctl(PR_SET_NAME, title);
  if (!arg_start)
    return;
  size_t room = (size_t)(arg_end - arg_start), len = strlen(title);
  memset(arg_start, 0, room);
  memcpy(arg_start, title, len < room ? len : room - 1);
}

void nsb_report(int fd, int32_t kind, int32_t op_index, int32_t err,
                int32_t value) {
  struct nsb_record rec = {kind, op_index, err, value};
  ssize_t n;
  do
    n = write(fd, &rec, sizeof rec);
  while (n < 0 && errno == EINTR);
}

int32_t nsb_validate(const uint8_t *buf, uint32_t len) {
  struct nsb_plan plan;
  return nsb_plan_parse(buf, len, &plan);
}

static void sort_fds(int *fds, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
      int t = fds[j];
      fds[j] = fds[j - 1];
      fds[j - 1] = t;
    }
}

/* Closes every descriptor from 3 up except the ones listed, so that nothing
 * of the Deno process (its epoll, its files, other sandboxes' pipes) leaks
 * into the sandbox. */
static int close_all_except(int *keep, int n) {
  sort_fds(keep, n);
  unsigned int from = 3;
  for (int i = 0; i < n; i++) {
    if (keep[i] < (int)from)
      continue;
    if ((unsigned int)keep[i] > from &&
        syscall(SYS_close_range, from, keep[i] - 1, 0) < 0)
      return -errno;
    from = (unsigned int)keep[i] + 1;
  }
  if (syscall(SYS_close_range, from, ~0u, 0) < 0)
    return -errno;
  return 0;
}

static void reset_signals(void) {
  struct sigaction dfl = {0};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction(sig, &dfl, 0);
}

static const char *remove_path(const struct nsb_plan *plan) {
  struct nsb_op op;
  uint32_t offset = NSB_HEADER_SIZE;
  for (uint32_t i = 0; i < plan->op_count; i++) {
    offset = nsb_plan_op(plan, offset, &op);
    if (op.opcode == NSB_OP_REMOVE_ON_EXIT)
      return op.str;
  }
  return 0;
}

static void finish(const struct nsb_plan *plan, int report_fd, int code) {
  const char *path = remove_path(plan);
  if (path) {
    int rc = nsb_remove_tree(path);
    if (rc < 0)
      nsb_report(report_fd, NSB_REC_CLEANUP_FAILED, -1, -rc, 0);
  }
  _exit(code);
}

static void fail(const struct nsb_plan *plan, int report_fd, int step,
                 int err) {
  nsb_report(report_fd, NSB_REC_SETUP_FAILED, step, err, 0);
  finish(plan, report_fd, EXIT_SETUP);
}

static int exit_code(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return EXIT_SETUP;
}

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define TIME_NS_CREATED 1

static char *put_u32(char *p, uint32_t v) {
  char digits[10];
  int n = 0;
  do
    digits[n++] = (char)('0' + v % 10);
  while (v /= 10);
  while (n)
    *p++ = digits[--n];
  return p;
}

/* With a time-offset op: the children (init first, before anything can
 * read a clock in it) get a time namespace whose monotonic and boot-time
 * clocks run ahead. clone() cannot take CLONE_NEWTIME; unshare() gives it
 * to the children only, and the offsets must be set before the first.
 * Returns TIME_NS_CREATED, 0 without the op, or -errno. */
static int time_namespace(const struct nsb_plan *plan) {
  struct nsb_op op;
  uint32_t offset = NSB_HEADER_SIZE;
  for (uint32_t i = 0; i < plan->op_count; i++) {
    offset = nsb_plan_op(plan, offset, &op);
    if (op.opcode != NSB_OP_TIME_OFFSET)
      continue;
    if (syscall(SYS_unshare, CLONE_NEWTIME) < 0)
      return -errno;
    char text[64], *p = text;
    static const char mono[] = "monotonic ", boot[] = " 0\nboottime ";
    memcpy(p, mono, sizeof mono - 1);
    p = put_u32(p + sizeof mono - 1, op.arg0);
    memcpy(p, boot, sizeof boot - 1);
    p = put_u32(p + sizeof boot - 1, op.arg0);
    memcpy(p, " 0\n", 3);
    p += 3;
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
      return -errno;
    ssize_t n = write(fd, text, (size_t)(p - text));
    int err = n < 0 ? errno : 0;
    close(fd);
    if (n < 0)
      return -err;
    return TIME_NS_CREATED;
  }
  return 0;
}

struct init_args {
  const struct nsb_plan *plan;
  int report_fd;
  const struct nsb_terminal *host;
};

static int init_main(void *p) {
  const struct init_args *a = p;
  _exit(nsb_run_init(a->plan, a->report_fd, a->host));
}

/* Init's stack: in the monitor's memory, which init may share. */
static char init_stack[256 * 1024] __attribute__((aligned(16)));

static void monitor(const struct nsb_plan *plan, pid_t parent, int sync_fd,
                    int report_fd, const struct nsb_terminal *host) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, 0);
  /* Not SIGKILL: the monitor must outlive Deno long enough to kill the
   * sandbox and clean up after it. */
  if (prctl(PR_SET_PDEATHSIG, PDEATH_SIGNAL) < 0)
    fail(plan, report_fd, NSB_STEP_PDEATHSIG, errno);
  if (getppid() != parent)
    finish(plan, report_fd, EXIT_SETUP);
  reset_signals();
  /* The monitor stays dumpable: it lives outside the sandbox's PID
   * namespace, so only the invoking user's own host processes can see it,
   * and the parent opens /proc/PID/ns/user through it. */
  nsb_set_title("nsbuild-monitor");

  int keep[NSB_MAX_SLOTS + 3], nkeep = 0;
  keep[nkeep++] = report_fd;
  if (sync_fd >= 0)
    keep[nkeep++] = sync_fd;
  if (plan->userns_fd >= 0)
    keep[nkeep++] = plan->userns_fd;
  struct nsb_op op;
  uint32_t offset = NSB_HEADER_SIZE;
  for (uint32_t i = 0; i < plan->op_count; i++) {
    offset = nsb_plan_op(plan, offset, &op);
    if (op.opcode == NSB_OP_KEEP_FD && nkeep < (int)NSB_MAX_SLOTS)
      keep[nkeep++] = (int)op.arg0;
  }
  int rc = close_all_except(keep, nkeep);
  if (rc < 0)
    fail(plan, report_fd, NSB_STEP_CLOSE_FDS, -rc);

  if (plan->userns_fd < 0) {
    /* The parent writes our id maps, then sends one byte: 1 to go on, 0
     * (or end of file) to give up. */
    char go = 0;
    ssize_t n;
    do
      n = read(sync_fd, &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1 || go != 1)
      fail(plan, report_fd, NSB_STEP_WAIT_IDMAP, n < 0 ? errno : ECANCELED);
    close(sync_fd);
  } else {
    if (setns(plan->userns_fd, CLONE_NEWUSER) < 0)
      fail(plan, report_fd, NSB_STEP_SETNS_USER, errno);
    close(plan->userns_fd);
  }
  /* Raw system calls, not glibc's wrappers: in a multithreaded process
   * those broadcast the change to every thread under a lock, and this copy
   * of Deno inherited that lock's state from whatever thread held it at
   * clone time (seen: a monitor stuck in futex_wait forever). Here there
   * is one thread, so the raw call is the whole job.
   * setgroups is denied (EPERM) under a single-id map with setgroups
   * disabled; the supplementary groups then stay, shown as 65534. */
  if (syscall(SYS_setgroups, 0, 0) < 0 && errno != EPERM)
    fail(plan, report_fd, NSB_STEP_SET_IDS, errno);
  if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
    fail(plan, report_fd, NSB_STEP_SET_IDS, errno);
  /* Changing credentials clears the parent-death signal. */
  if (prctl(PR_SET_PDEATHSIG, PDEATH_SIGNAL) < 0)
    fail(plan, report_fd, NSB_STEP_PDEATHSIG, errno);
  if (getppid() != parent)
    finish(plan, report_fd, EXIT_SETUP);

  rc = time_namespace(plan);
  if (rc < 0)
    fail(plan, report_fd, NSB_STEP_TIME_NS, -rc);

  /* Init shares the monitor's memory, a copy of Deno's: copying its page
   * tables for init and freeing them again when init exits cost each
   * sandbox about 0.5 ms. Not with a time namespace: a child sharing its
   * parent's memory stays in the parent's time namespace. Sharing is safe
   * because from here the monitor only waits for signals (on its own
   * stack) and kills or reaps init; errno, which both write, matters to
   * the monitor only after init is gone. */
  unsigned long share = rc == TIME_NS_CREATED ? 0 : CLONE_VM;
  struct init_args args = {plan, report_fd, host};
  long init = clone(init_main, init_stack + sizeof init_stack,
                    (int)(plan->clone_flags | share | SIGCHLD), &args);
  if (init < 0)
    fail(plan, report_fd, NSB_STEP_CLONE_INIT, errno);

  int status = 0, killed = 0;
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0)
      continue;
    if (sig == SIGCHLD) {
      pid_t p = waitpid((pid_t)init, &status, WNOHANG);
      if (p == init)
        break;
      continue;
    }
    /* The parent-death signal comes when Deno's cloning thread ends, maybe
     * before the whole process has (so getppid() may not have changed yet);
     * being a signal nobody forwards, it cannot be mistaken for one. */
    if (sig == PDEATH_SIGNAL || getppid() != parent) {
      /* Deno is gone: nobody will read the result, end the sandbox now. */
      if (!killed)
        kill((pid_t)init, SIGKILL);
      killed = 1;
      continue;
    }
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT ||
        sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGWINCH)
      kill((pid_t)init, sig);
  }
  nsb_report(report_fd, NSB_REC_EXITED, -1, 0, exit_code(status));
  finish(plan, report_fd, exit_code(status));
}

int32_t nsb_spawn(const uint8_t *buf, uint32_t len, int32_t *out) {
  struct nsb_plan plan;
  int rc = nsb_plan_parse(buf, len, &plan);
  if (rc < 0)
    return rc;
  int report[2], sync[2] = {-1, -1};
  if (pipe2(report, O_CLOEXEC) < 0)
    return -errno;
  if (plan.userns_fd < 0 && pipe2(sync, O_CLOEXEC) < 0) {
    rc = -errno;
    close(report[0]);
    close(report[1]);
    return rc;
  }
  if (!arg_start)
    find_arg_area();
  struct nsb_terminal host = {0};
  if (plan.flags & NSB_FLAG_TERMINAL)
    nsb_terminal_capture(&host, 0);
  pid_t parent = getpid();
  unsigned long flags = SIGCHLD | (plan.userns_fd < 0 ? CLONE_NEWUSER : 0);
  long pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
  if (pid == 0) {
    if (sync[1] >= 0)
      close(sync[1]);
    close(report[0]);
    monitor(&plan, parent, sync[0], report[1], &host);
    _exit(EXIT_SETUP);
  }
  rc = pid < 0 ? -errno : 0;
  close(report[1]);
  if (sync[0] >= 0)
    close(sync[0]);
  if (pid < 0) {
    close(report[0]);
    if (sync[1] >= 0)
      close(sync[1]);
    return rc;
  }
  out[0] = (int32_t)pid;
  out[1] = sync[1];
  out[2] = report[0];
  return 0;
}

/* Runs newuidmap and newgidmap (or any id-map helpers) for a monitor, in
 * parallel, and waits for them. Each helper in the buffer is its path and
 * its arguments after the pid, NUL-terminated, closed by an empty string.
 * Returns 0, or (index + 1) << 8 | exit status of the first that failed, or
 * a negative errno. */
int32_t nsb_run_helpers(int32_t pid, const uint8_t *buf, uint32_t len) {
  enum { MAX_HELPERS = 4, MAX_HELPER_ARGS = 64 };
  char pidstr[16];
  int n = 0;
  for (int32_t v = pid; v; v /= 10)
    n++;
  if (pid <= 0 || n >= (int)sizeof pidstr)
    return -EINVAL;
  pidstr[n] = 0;
  for (int32_t v = pid, i = n - 1; i >= 0; v /= 10, i--)
    pidstr[i] = (char)('0' + v % 10);
  pid_t pids[MAX_HELPERS];
  int count = 0, rc = 0;
  const char *p = (const char *)buf, *end = (const char *)buf + len;
  if (len == 0 || buf[len - 1] != 0)
    return -EINVAL;
  while (p < end && *p && count < MAX_HELPERS) {
    char *argv[MAX_HELPER_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)p;
    argv[argc++] = pidstr;
    for (p += strlen(p) + 1; p < end && *p && argc < MAX_HELPER_ARGS; p += strlen(p) + 1)
      argv[argc++] = (char *)p;
    argv[argc] = 0;
    p++; /* the empty string closing this helper */
    char *envp[] = {0};
    int err = posix_spawn(&pids[count], argv[0], 0, 0, argv, envp);
    if (err) {
      rc = -err;
      break;
    }
    count++;
  }
  for (int i = 0; i < count; i++) {
    int st = 0;
    pid_t w;
    do
      w = waitpid(pids[i], &st, 0);
    while (w < 0 && errno == EINTR);
    int code = w < 0 ? 255 : exit_code(st);
    if (code != 0 && rc == 0)
      rc = (i + 1) << 8 | (code & 0xff);
  }
  return rc;
}

/* "/proc/PID/FILE" into buf (64 bytes is room for any pid and our names). */
static void proc_path(char *buf, int32_t pid, const char *file) {
  char digits[16];
  int n = 6, k = 0;
  memcpy(buf, "/proc/", 6);
  for (int32_t v = pid; v > 0; v /= 10)
    digits[k++] = (char)('0' + v % 10);
  while (k)
    buf[n++] = digits[--k];
  buf[n++] = '/';
  memcpy(buf + n, file, strlen(file) + 1);
}

static int write_proc(int32_t pid, const char *file, const uint8_t *data,
                      uint32_t len) {
  char path[64];
  proc_path(path, pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  /* A map must arrive in one write. */
  ssize_t w = write(fd, data, len);
  int rc = w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
  close(fd);
  return rc;
}

/* Writes a monitor's maps directly (root, or a single-id map): 0, or
 * -(step << 16 | errno) with step 1 setgroups, 2 uid_map, 3 gid_map. */
int32_t nsb_write_maps(int32_t pid, const uint8_t *uid_map, uint32_t uid_len,
                       const uint8_t *gid_map, uint32_t gid_len,
                       int32_t deny_setgroups) {
  static const uint8_t deny[] = "deny";
  int rc;
  if (deny_setgroups && (rc = write_proc(pid, "setgroups", deny, 4)) < 0)
    return -(1 << 16 | -rc);
  if ((rc = write_proc(pid, "uid_map", uid_map, uid_len)) < 0)
    return -(2 << 16 | -rc);
  if ((rc = write_proc(pid, "gid_map", gid_map, gid_len)) < 0)
    return -(3 << 16 | -rc);
  return 0;
}

int32_t nsb_open_userns(int32_t pid) {
  char path[64];
  proc_path(path, pid, "ns/user");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int32_t nsb_release(int32_t sync_fd, int32_t go) {
  char byte = go ? 1 : 0;
  ssize_t n;
  do
    n = write(sync_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  int err = n == 1 ? 0 : -errno;
  close(sync_fd);
  return err;
}

int32_t nsb_wait(int32_t pid, int32_t *status) {
  int st = 0;
  pid_t p;
  do
    p = waitpid(pid, &st, 0);
  while (p < 0 && errno == EINTR);
  if (p < 0)
    return -errno;
  *status = exit_code(st);
  return 0;
}

/* Reads whole records into buf until end of file, or, with until_exit,
 * until the one with the command's status. Returns the bytes read or
 * -errno. */
static int32_t read_records(int32_t fd, uint8_t *buf, uint32_t len,
                            int until_exit) {
  uint32_t got = 0;
  while (got + sizeof(struct nsb_record) <= len) {
    ssize_t n = read(fd, buf + got, sizeof(struct nsb_record));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    /* A record is written whole, in one write under PIPE_BUF. */
    if (n != sizeof(struct nsb_record))
      return -EPROTO;
    struct nsb_record rec;
    memcpy(&rec, buf + got, sizeof rec);
    got += (uint32_t)n;
    if (until_exit && rec.kind == NSB_REC_EXITED)
      break;
  }
  return (int32_t)got;
}

/* The records up to the command's status, or to end of file (the monitor
 * died or never ran the command); the descriptor stays open for what the
 * cleanup reports. */
int32_t nsb_wait_exit(int32_t fd, uint8_t *buf, uint32_t len) {
  return read_records(fd, buf, len, 1);
}

int32_t nsb_read_records(int32_t fd, uint8_t *buf, uint32_t len) {
  return read_records(fd, buf, len, 0);
}

int32_t nsb_kill(int32_t pid, int32_t sig) {
  return kill(pid, sig) < 0 ? -errno : 0;
}

int32_t nsb_close(int32_t fd) { return close(fd) < 0 ? -errno : 0; }

int32_t nsb_mkfifo(const char *path, uint32_t mode) {
  return mkfifo(path, (mode_t)mode) < 0 ? -errno : 0;
}
