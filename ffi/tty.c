/* The command's terminal: a pseudo-terminal of the sandbox's own devpts
 * instance, relayed by init.
 *
 *   host terminal ◀──fd 0/1──▶ init ◀──master──▶ slave = command's ctty
 *
 * The command never holds a descriptor of the host terminal, so it cannot
 * push input into it with TIOCSTI (bubblewrap's CVE-2017-5226), yet it gets
 * a controlling terminal: job control, and Ctrl-C reaching the foreground
 * job through the pty's line discipline. Init is not dumpable, so its host
 * descriptors cannot be reached through /proc/1/fd either.
 *
 * Everything but nsb_terminal_capture runs after clone: raw system calls
 * and async-signal-safe functions only (tcgetattr and tcsetattr are on
 * POSIX's list; underneath they are the TCGETS and TCSETS ioctls).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "executor.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* What init still reads from the master once the command has exited. The
 * pty itself holds a few pages; the bound is for a background job that
 * keeps writing, which must not keep the sandbox alive. */
#define DRAIN_LIMIT (1u << 20)

void nsb_terminal_capture(struct nsb_terminal *term, int fd) {
  term->has_termios = tcgetattr(fd, &term->termios) == 0;
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0 || ioctl(1, TIOCGWINSZ, &ws) == 0)
    ioctl(master, TIOCSWINSZ, &ws);
}

int nsb_pty_open(const struct nsb_terminal *host, int *master, int *slave,
                 int *step) {
  /* Nonblocking: init must never sleep in a write to the master while the
   * command waits for init to read its output. */
  int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (m < 0) {
    *step = NSB_STEP_OPEN_PTMX;
    return -errno;
  }
  int unlock = 0, s, err;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
    *step = NSB_STEP_UNLOCK_PTY;
    goto fail;
  }
  /* The peer comes from the master itself, not from a path under
   * /dev/pts that something in the rootfs could have replaced. */
  s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    *step = NSB_STEP_PTY_PEER;
    goto fail;
  }
  if (host->has_termios && tcsetattr(s, TCSANOW, &host->termios) < 0) {
    err = errno;
    close(s);
    errno = err;
    *step = NSB_STEP_PTY_SETTINGS;
    goto fail;
  }
  copy_winsize(m);
  *master = m;
  *slave = s;
  return 0;
fail:
  err = errno;
  close(m);
  return -err;
}

int nsb_pty_attach(int master, int slave, int *step) {
  if (ioctl(slave, TIOCSCTTY, 0) < 0) {
    *step = NSB_STEP_CONTROLLING_TTY;
    return -errno;
  }
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(slave, fd) < 0) {
      *step = NSB_STEP_PTY_STDIO;
      return -errno;
    }
  }
  close(master);
  if (slave > 2)
    close(slave);
  return 0;
}

static int status_code(int status) {
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Reaps every exited child; the command's status, or -1 while it runs. */
static int reap(pid_t cmd) {
  int status, code = -1;
  pid_t p;
  while ((p = waitpid(-1, &status, WNOHANG)) > 0)
    if (p == cmd)
      code = status_code(status);
  return code;
}

int nsb_wait_command(pid_t cmd) {
  sigset_t all;
  sigfillset(&all);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig == SIGCHLD) {
      int code = reap(cmd);
      if (code >= 0)
        return code;
    } else if (sig > 0) {
      kill(cmd, sig);
    }
  }
}

/* Writes everything, waiting when the host made its descriptor
 * nonblocking (init never changes the flags of the host's descriptors:
 * they are shared with the invoking shell). */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      return -errno;
    } else if (n == 0) {
      return -EIO;
    }
  }
  return 0;
}

struct relay {
  int master;
  pid_t cmd;
  /* Host stdin bytes read but not yet taken by the master. */
  char in[4096];
  size_t in_len, in_off;
  int stdin_open, master_open, stdout_ok;
};

static void to_stdout(struct relay *r, const char *buf, size_t len) {
  /* When the host's stdout is gone the output is dropped, but the master
   * is still read so that the command does not block on a full pty. */
  if (r->stdout_ok && write_all(1, buf, len) < 0)
    r->stdout_ok = 0;
}

/* Handles the queued signals; the command's status once it has exited. */
static int on_signals(struct relay *r, int sigfd) {
  struct signalfd_siginfo si;
  int code = -1;
  while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
    int sig = (int)si.ssi_signo;
    if (sig == SIGCHLD) {
      int c = reap(r->cmd);
      if (c >= 0)
        code = c;
    } else if (sig == SIGWINCH) {
      /* The kernel signals the pty's foreground job when the size
       * changes, which is where a resize belongs. */
      copy_winsize(r->master);
    } else if (sig != SIGPIPE) {
      /* SIGPIPE is init's own, from writing to a closed host stdout. */
      kill(r->cmd, sig);
    }
  }
  return code;
}

/* The command has exited: what it wrote is still in the pty. A
 * nonblocking read flushes the pty's pending input first, so EAGAIN here
 * means nothing is left; EIO means every slave descriptor is closed. */
static void drain(struct relay *r) {
  char buf[4096];
  size_t total = 0;
  while (r->master_open && total < DRAIN_LIMIT) {
    ssize_t n = read(r->master, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    total += (size_t)n;
    to_stdout(r, buf, (size_t)n);
  }
}

int nsb_pty_relay(int master, int sigfd, pid_t cmd) {
  struct relay r = {.master = master, .cmd = cmd, .stdin_open = 1,
                    .master_open = 1, .stdout_ok = 1};
  for (;;) {
    int pending = r.in_off < r.in_len;
    struct pollfd fds[3] = {
        {sigfd, POLLIN, 0},
        {r.master_open ? master : -1, POLLIN | (pending ? POLLOUT : 0), 0},
        /* Host stdin is read only when the last bytes are through: the
         * pty's input queue is what pushes back on a fast typist. */
        {r.stdin_open && r.master_open && !pending ? 0 : -1, POLLIN, 0},
    };
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ENOMEM)
        continue;
      /* Cannot relay any more: still wait for the command, as without a
       * terminal. */
      return nsb_wait_command(cmd);
    }
    if (fds[0].revents & POLLIN) {
      int code = on_signals(&r, sigfd);
      if (code >= 0) {
        drain(&r);
        return code;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0)
        to_stdout(&r, buf, (size_t)n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        r.master_open = 0; /* EIO: the command closed every slave fd */
    }
    if (r.master_open && (fds[1].revents & POLLOUT)) {
      ssize_t n = write(master, r.in + r.in_off, r.in_len - r.in_off);
      if (n > 0)
        r.in_off += (size_t)n;
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        r.in_off = r.in_len;
    }
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, r.in, sizeof r.in);
      if (n > 0) {
        r.in_len = (size_t)n;
        r.in_off = 0;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* End of file, a hangup, or EIO for a background job (SIGTTIN is
         * blocked here). */
        r.stdin_open = 0;
      }
    }
  }
}
