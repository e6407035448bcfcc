/* Pid 1 of the sandbox: carries out the mount plan, starts the command,
 * reaps every orphan, forwards signals, relays the command's terminal when
 * it has one (tty.c), and exits with the command's status. When it exits the kernel kills everything left in the namespace. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

#define EXIT_SETUP 125
#define FIFO_BUFFER_SIZE (1 << 20)

static const char *or_null(const char *s) { return s[0] ? s : 0; }

static int mkdir_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof buf)
    return -ENAMETOOLONG;
  memcpy(buf, path, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != 0)
      continue;
    char saved = buf[i];
    buf[i] = 0;
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
      return -errno;
    buf[i] = saved;
  }
  return 0;
}

static int mkfile_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof buf)
    return -ENAMETOOLONG;
  memcpy(buf, path, len + 1);
  char *slash = strrchr(buf, '/');
  if (slash && slash != buf) {
    *slash = 0;
    int rc = mkdir_p(buf, 0755);
    if (rc < 0)
      return rc;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, mode);
  if (fd < 0)
    return errno == EISDIR ? 0 : -errno;
  close(fd);
  return 0;
}

static int set_readonly(int dirfd, const char *path, unsigned int flags) {
  struct mount_attr attr = {0};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr) < 0)
    return -errno;
  return 0;
}

static int tree_clone(const char *src, unsigned int bits) {
  unsigned int rec = (bits & NSB_TREE_RECURSIVE) ? AT_RECURSIVE : 0;
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src,
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
  if (fd < 0)
    return -errno;
  struct mount_attr attr = {0};
  if (bits & NSB_TREE_READONLY)
    attr.attr_set |= MOUNT_ATTR_RDONLY;
  if (bits & NSB_TREE_NOSUID_NODEV)
    attr.attr_set |= MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (attr.attr_set &&
      syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | rec, &attr,
              sizeof attr) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

static int proc_mount(void) {
  int fs = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
  if (fs < 0)
    return -errno;
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0) < 0) {
    int err = -errno;
    close(fs);
    return err;
  }
  int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
                         MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                             MOUNT_ATTR_NOEXEC);
  int err = mnt < 0 ? -errno : mnt;
  close(fs);
  return err;
}

static int pivot(const char *newroot) {
  if (chdir(newroot) < 0)
    return -errno;
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    return -errno;
  /* The old root now sits on top of the new one: detach it. */
  if (umount2(".", MNT_DETACH) < 0)
    return -errno;
  if (chdir("/") < 0)
    return -errno;
  return 0;
}

static int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  int rc = 0;
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    rc = -errno;
  } else {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
      rc = -errno;
  }
  close(s);
  return rc;
}

static int optional(const struct nsb_op *op, int rc) {
  return (rc == -ENOENT && (op->arg1 & NSB_OPTIONAL)) ? 0 : rc;
}

/* A FIFO's open blocks until the caller opens the other end, which it does
 * before spawning; a plain file is created as mapped root. */
static int open_stdio(const char *path, int target, uint32_t mode) {
  int flags = mode == NSB_STDIO_READ ? O_RDONLY
              : mode == NSB_STDIO_APPEND
                  ? O_WRONLY | O_CREAT | O_APPEND
                  : O_WRONLY | O_CREAT | O_TRUNC;
  int fd = open(path, flags | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  /* A FIFO from nsbuild (a base's tar stream, a step's output) gets a
   * larger buffer than the default 64 KiB, so that neither end waits on
   * the other at every chunk. Best effort: the size is capped by
   * /proc/sys/fs/pipe-max-size. */
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
    fcntl(fd, F_SETPIPE_SZ, FIFO_BUFFER_SIZE);
  if (fd != target && dup2(fd, target) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  if (fd != target)
    close(fd);
  else if (fcntl(fd, F_SETFD, 0) < 0)
    return -errno;
  return 0;
}

static int run_op(const struct nsb_op *op, int *slots) {
  const char *s1 = op->nstr > 1 ? nsb_next_str(op->str) : 0;
  switch (op->opcode) {
  case NSB_OP_REMOVE_ON_EXIT:
  case NSB_OP_KEEP_FD:
  case NSB_OP_EXEC:
  case NSB_OP_DROP_CAPS:   /* the command's, before exec */
  case NSB_OP_SECCOMP:     /* the command's, before exec */
  case NSB_OP_TIME_OFFSET: /* the monitor's, before clone */
    return 0;
  case NSB_OP_MOUNT: {
    const char *fstype = nsb_next_str(s1), *data = nsb_next_str(fstype);
    unsigned long flags = op->arg0 | (unsigned long)op->arg1 << 32;
    if (mount(or_null(op->str), s1, or_null(fstype), flags, or_null(data)) < 0)
      return -errno;
    return 0;
  }
  case NSB_OP_TREE_CLONE: {
    int fd = tree_clone(op->str, op->arg1);
    if (fd < 0)
      return fd;
    if (slots[op->arg0] >= 0)
      close(slots[op->arg0]);
    slots[op->arg0] = fd;
    return 0;
  }
  case NSB_OP_PROC_MOUNT: {
    int fd = proc_mount();
    if (fd < 0)
      return fd;
    slots[op->arg0] = fd;
    return 0;
  }
  case NSB_OP_PIVOT_ROOT:
    return pivot(op->str);
  case NSB_OP_MKDIR_P:
    return mkdir_p(op->str, op->arg0);
  case NSB_OP_MKFILE_P:
    return mkfile_p(op->str, op->arg0);
  case NSB_OP_MOVE_MOUNT: {
    int fd = slots[op->arg0];
    if (fd < 0)
      return -EBADF;
    if (syscall(SYS_move_mount, fd, "", AT_FDCWD, op->str,
                MOVE_MOUNT_F_EMPTY_PATH) < 0)
      return -errno;
    close(fd);
    slots[op->arg0] = -1;
    return 0;
  }
  case NSB_OP_SYMLINK:
    return symlink(op->str, s1) < 0 ? -errno : 0;
  case NSB_OP_READONLY:
    if (mount(op->str, op->str, 0, MS_BIND | MS_REC, 0) < 0)
      return optional(op, -errno);
    return set_readonly(AT_FDCWD, op->str, AT_RECURSIVE);
  case NSB_OP_MASK_FILE:
    if (mount("/dev/null", op->str, 0, MS_BIND, 0) < 0)
      return optional(op, -errno);
    return 0;
  case NSB_OP_HOSTNAME:
    return sethostname(op->str, strlen(op->str)) < 0 ? -errno : 0;
  case NSB_OP_DOMAINNAME:
    return setdomainname(op->str, strlen(op->str)) < 0 ? -errno : 0;
  case NSB_OP_LOOPBACK_UP:
    return loopback_up();
  case NSB_OP_CHDIR:
    return chdir(op->str) < 0 ? -errno : 0;
  case NSB_OP_UMASK:
    umask((mode_t)op->arg0);
    return 0;
  case NSB_OP_OPEN_STDIO:
    return open_stdio(op->str, (int)op->arg0, op->arg1);
  default:
    return -ENOSYS;
  }
}

/* Keeps only the capabilities in `keep`, in every set, for good: the
 * bounding set is what root gets back at exec. */
static int drop_caps(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ull << cap))
      continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL)
        break; /* past the kernel's last capability */
      return -errno;
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
      errno != EINVAL)
    return -errno;
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &head, data) < 0)
    return -errno;
  for (int i = 0; i < 2; i++) {
    uint32_t mask = (uint32_t)(keep >> (32 * i));
    data[i].effective &= mask;
    data[i].permitted &= mask;
    data[i].inheritable &= mask;
  }
  if (syscall(SYS_capset, &head, data) < 0)
    return -errno;
  return 0;
}

static int hex_digit(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

/* Shared with init through CLONE_VM; init is stopped until the exec. */
static struct sock_filter filter[NSB_MAX_FILTER];

/* The plan validated the hex string; it holds the kernel's own layout. */
static int install_filter(const struct nsb_op *op) {
  uint8_t *out = (uint8_t *)filter;
  for (uint32_t i = 0; i < op->arg0 * sizeof filter[0]; i++)
    out[i] = (uint8_t)(hex_digit(op->str[2 * i]) << 4 |
                       hex_digit(op->str[2 * i + 1]));
  struct sock_fprog prog = {(unsigned short)op->arg0, filter};
  /* Builds run untrusted code but hold no secrets of other users: the
   * speculative store bypass mitigation would only slow every compiler. */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
              SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) == 0)
    return 0;
  if (errno == EINVAL &&
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
    return 0;
  return -errno;
}

/* The ops the command carries out itself, just before exec. */
struct last_ops {
  struct nsb_op caps, filter;
  int32_t caps_index, filter_index; /* -1: none */
};

/* The command's side of the fork: never returns. */
static void exec_command(const struct nsb_plan *plan, const struct nsb_op *op,
                         uint32_t exec_index, int report_fd, const int *keep,
                         int nkeep, int master, int slave,
                         const struct last_ops *last) {
  static char *argv[NSB_MAX_ARGS + 1], *envp[NSB_MAX_ARGS + 1];
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, 0);
  /* A new session leaves the command without a controlling terminal, so it
   * cannot push input into the invoking one (TIOCSTI needs the terminal to
   * be the caller's controlling terminal). With a pty the session is what
   * lets the pty become the controlling terminal instead. */
  if (((plan->flags & NSB_FLAG_NEW_SESSION) || master >= 0) && setsid() < 0) {
    nsb_report(report_fd, NSB_REC_SETUP_FAILED, NSB_STEP_NEW_SESSION, errno,
               0);
    _exit(EXIT_SETUP);
  }
  if (master >= 0) {
    int step = 0, rc = nsb_pty_attach(master, slave, &step);
    if (rc < 0) {
      nsb_report(report_fd, NSB_REC_SETUP_FAILED, step, -rc, 0);
      _exit(EXIT_SETUP);
    }
  }
  for (int i = 0; i < nkeep; i++)
    fcntl(keep[i], F_SETFD, 0);
  if (last->caps_index >= 0) {
    uint64_t mask = last->caps.arg0 | (uint64_t)last->caps.arg1 << 32;
    int rc = drop_caps(mask);
    if (rc < 0) {
      nsb_report(report_fd, NSB_REC_SETUP_FAILED, last->caps_index, -rc, 0);
      _exit(EXIT_SETUP);
    }
  }
  if (last->filter_index >= 0) {
    int rc = install_filter(&last->filter);
    if (rc < 0) {
      nsb_report(report_fd, NSB_REC_SETUP_FAILED, last->filter_index, -rc, 0);
      _exit(EXIT_SETUP);
    }
  }
  uint32_t ncand = op->nstr - op->arg0 - op->arg1;
  const char *s = op->str, *cand = op->str;
  for (uint32_t i = 0; i < ncand; i++)
    s = nsb_next_str(s);
  for (uint32_t i = 0; i < op->arg0; i++, s = nsb_next_str(s))
    argv[i] = (char *)s;
  argv[op->arg0] = 0;
  for (uint32_t i = 0; i < op->arg1; i++, s = nsb_next_str(s))
    envp[i] = (char *)s;
  envp[op->arg1] = 0;
  /* Like execvp: the first candidate that exists wins; a permission error is
   * remembered but the search goes on. */
  int err = ENOENT, which = 0;
  for (uint32_t i = 0; i < ncand; i++, cand = nsb_next_str(cand)) {
    execve(cand, argv, envp);
    if (errno != ENOENT && errno != ENOTDIR && (err == ENOENT || errno != EACCES)) {
      err = errno;
      which = (int)i;
      if (errno != EACCES)
        break;
    }
  }
  nsb_report(report_fd, NSB_REC_EXEC_FAILED, (int32_t)exec_index, err, which);
  _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

struct exec_args {
  const struct nsb_plan *plan;
  const struct nsb_op *op;
  uint32_t exec_index;
  int report_fd;
  const int *keep;
  int nkeep;
  int master, slave;
  const struct last_ops *last;
};

static int exec_trampoline(void *p) {
  struct exec_args *a = p;
  exec_command(a->plan, a->op, a->exec_index, a->report_fd, a->keep, a->nkeep,
               a->master, a->slave, a->last);
  return EXIT_SETUP;
}

/* The command is started posix_spawn-style: it shares init's memory (a copy
 * of Deno's, large) instead of copying its page tables, and init waits until
 * it has exec'd. This stack is used only until then. */
static char command_stack[64 * 1024] __attribute__((aligned(16)));

int nsb_run_init(const struct nsb_plan *plan, int report_fd,
                 const struct nsb_terminal *host) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* Not dumpable: the build cannot open /proc/1/exe or /proc/1/mem (its mm
   * belongs to the host user namespace, where the build has no
   * CAP_SYS_PTRACE), the CVE-2019-5736 class. */
  prctl(PR_SET_DUMPABLE, 0);
  nsb_set_title("nsbuild-init");
  int slots[NSB_MAX_SLOTS];
  for (uint32_t i = 0; i < NSB_MAX_SLOTS; i++)
    slots[i] = -1;
  int keep[NSB_MAX_SLOTS], nkeep = 0;
  struct nsb_op op, exec_op = {0};
  struct last_ops last = {.caps_index = -1, .filter_index = -1};
  uint32_t offset = NSB_HEADER_SIZE, exec_index = 0;
  for (uint32_t i = 0; i < plan->op_count; i++) {
    offset = nsb_plan_op(plan, offset, &op);
    if (op.opcode == NSB_OP_EXEC) {
      exec_op = op;
      exec_index = i;
    }
    if (op.opcode == NSB_OP_DROP_CAPS) {
      last.caps = op;
      last.caps_index = (int32_t)i;
    }
    if (op.opcode == NSB_OP_SECCOMP) {
      last.filter = op;
      last.filter_index = (int32_t)i;
    }
    if (op.opcode == NSB_OP_KEEP_FD && nkeep < (int)NSB_MAX_SLOTS)
      keep[nkeep++] = (int)op.arg0;
    int rc = run_op(&op, slots);
    if (rc < 0) {
      nsb_report(report_fd, NSB_REC_SETUP_FAILED, (int32_t)i, -rc, 0);
      return EXIT_SETUP;
    }
  }
  if ((plan->flags & NSB_FLAG_NO_NEW_PRIVS) &&
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    nsb_report(report_fd, NSB_REC_SETUP_FAILED, NSB_STEP_NO_NEW_PRIVS, errno,
               0);
    return EXIT_SETUP;
  }
  int master = -1, slave = -1, sigfd = -1;
  if (plan->flags & NSB_FLAG_TERMINAL) {
    /* Opened after the mount ops: /dev/ptmx is the sandbox's own devpts. */
    int step = 0, rc = nsb_pty_open(host, &master, &slave, &step);
    if (rc < 0) {
      nsb_report(report_fd, NSB_REC_SETUP_FAILED, step, -rc, 0);
      return EXIT_SETUP;
    }
    /* Signals stay blocked (the monitor blocked them all): they are read
     * from the signalfd, between the relay's reads and writes. */
    sigset_t all;
    sigfillset(&all);
    sigfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
      nsb_report(report_fd, NSB_REC_SETUP_FAILED, NSB_STEP_SIGNALFD, errno, 0);
      return EXIT_SETUP;
    }
  }
  struct exec_args args = {plan, &exec_op, exec_index, report_fd, keep,
                           nkeep, master,   slave,      &last};
  long cmd = clone(exec_trampoline, command_stack + sizeof command_stack,
                   CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  if (cmd < 0) {
    nsb_report(report_fd, NSB_REC_SETUP_FAILED, NSB_STEP_FORK_COMMAND, errno,
               0);
    return EXIT_SETUP;
  }
  close(report_fd);
  if (master < 0)
    return nsb_wait_command((pid_t)cmd);
  /* Only the command holds the slave now, so the master reads EIO once
   * the command and its children have closed it. */
  close(slave);
  return nsb_pty_relay(master, sigfd, (pid_t)cmd);
}
