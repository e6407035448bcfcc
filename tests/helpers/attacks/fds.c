/* Lists every open descriptor of this process (it opens none itself):
 * "fd N -> TARGET" per descriptor, then "count=N". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
  struct rlimit lim;
  long max = 65536;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
      lim.rlim_cur < (rlim_t)max)
    max = (long)lim.rlim_cur;
  int count = 0;
  for (int fd = 0; fd < max; fd++) {
    if (fcntl(fd, F_GETFD) < 0)
      continue;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = 0;
    printf("fd %d -> %s\n", fd, n < 0 ? "?" : target);
    count++;
  }
  printf("count=%d\n", count);
  return 0;
}
