/* Calls each system call the default seccomp filter has an opinion on and
 * prints "name errno" (0 when the call was let through, whatever it then
 * did). The arguments are harmless: a denied call never reaches the kernel,
 * and an allowed one fails on its own or does nothing lasting. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *name, long rc) {
  printf("%s %d\n", name, rc < 0 ? errno : 0);
}

int main(void) {
  char c = 'x';
  show("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
  show("add_key", syscall(SYS_add_key, "user", "nsbuild", "v", 1, -3));
  show("request_key", syscall(SYS_request_key, "user", "nsbuild", 0, 0));
  show("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
  show("bpf", syscall(SYS_bpf, 0, 0, 0));
  show("userfaultfd", syscall(SYS_userfaultfd, 0));
  show("perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0));
  show("personality-query", syscall(SYS_personality, 0xffffffffUL));
  show("personality-linux", syscall(SYS_personality, PER_LINUX));
  show("personality-norandom", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
  show("personality-bit31", syscall(SYS_personality, 0x80040000UL));
  show("unshare-user", syscall(SYS_unshare, CLONE_NEWUSER));
  show("unshare-uts", syscall(SYS_unshare, CLONE_NEWUTS));
  show("clone3", syscall(SYS_clone3, 0, 0));
  /* High bits set: the kernel reads only the low 32 (CVE-2019-10063). */
  show("ioctl-tiocsti", syscall(SYS_ioctl, 0, 0x100000000UL | TIOCSTI, &c));
  show("getpid", syscall(SYS_getpid));
  return 0;
}
