/* Tries to trace or read the memory of process PID: PTRACE_ATTACH,
 * PTRACE_SEIZE, /proc/PID/mem and process_vm_readv. Prints "WHAT: ok" or
 * "WHAT: ENAME" for each, and detaches from anything it attached to.
 * With "child" instead of a pid it tries its own child: the control that
 * shows ptrace works where it is allowed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long rc, int err) {
  printf("%s: %s\n", what, rc < 0 ? strerrorname_np(err) : "ok");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  pid_t pid, child = 0;
  if (!strcmp(argv[1], "child")) {
    child = fork();
    if (child == 0) {
      pause();
      _exit(0);
    }
    pid = child;
  } else {
    pid = (pid_t)atoi(argv[1]);
  }

  long rc = ptrace(PTRACE_ATTACH, pid, 0, 0);
  report("PTRACE_ATTACH", rc, errno);
  if (rc == 0) {
    waitpid(pid, 0, __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
  }
  rc = ptrace(PTRACE_SEIZE, pid, 0, 0);
  report("PTRACE_SEIZE", rc, errno);
  if (rc == 0) {
    ptrace(PTRACE_INTERRUPT, pid, 0, 0);
    waitpid(pid, 0, __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
  }

  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  report("open /proc/PID/mem", fd, errno);
  if (fd >= 0)
    close(fd);

  /* Any address will do: EFAULT means the kernel let us try. */
  char buf[16];
  struct iovec local = {buf, sizeof buf}, remote = {(void *)0x10000, sizeof buf};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  int err = errno;
  if (n < 0 && err == EFAULT)
    n = 0;
  report("process_vm_readv", n, err);

  if (child) {
    kill(child, SIGKILL);
    waitpid(child, 0, 0);
  }
  return 0;
}
