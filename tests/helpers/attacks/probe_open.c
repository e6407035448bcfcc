/* Opens each PATH with the given access and reports the outcome; never
 * writes, never truncates: "PATH MODE: ok" or "PATH MODE: ENAME".
 * Usage: probe_open r|w|rw PATH... */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3)
    return 2;
  int flags = !strcmp(argv[1], "r")   ? O_RDONLY
              : !strcmp(argv[1], "w") ? O_WRONLY
                                      : O_RDWR;
  for (int i = 2; i < argc; i++) {
    int fd = open(argv[i], flags | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      printf("%s %s: %s\n", argv[i], argv[1], strerrorname_np(errno));
    } else {
      printf("%s %s: ok\n", argv[i], argv[1]);
      close(fd);
    }
  }
  return 0;
}
