/* Tries to enter a new user namespace three ways, each in a child so this
 * process stays as it is: unshare(2), clone(2) and clone3(2) with
 * CLONE_NEWUSER. Prints "CALL: ok" or "CALL: ENAME" for each. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *call, long rc, int err) {
  printf("%s: %s\n", call, rc < 0 ? strerrorname_np(err) : "ok");
  fflush(stdout);
}

static void reap(long pid) {
  if (pid > 0)
    waitpid((pid_t)pid, 0, 0);
}

int main(void) {
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    int rc = unshare(CLONE_NEWUSER);
    report("unshare(CLONE_NEWUSER)", rc, errno);
    _exit(0);
  }
  reap(child);

  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0)
    _exit(0);
  report("clone(CLONE_NEWUSER)", pid, errno);
  reap(pid);

  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0)
    _exit(0);
  report("clone3(CLONE_NEWUSER)", pid, errno);
  reap(pid);
  return 0;
}
