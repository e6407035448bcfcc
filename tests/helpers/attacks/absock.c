/* An abstract unix socket, for showing that two sandboxes cannot reach each
 * other through one.
 *   absock listen NAME  binds @NAME, connects to itself (the control: the
 *                       socket works), prints "listening", then accepts
 *                       until stdin ends; prints "accepted N" at the end.
 *   absock connect NAME prints "connect: ok" or "connect: ENAME". */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t address(const char *name, struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t len = strlen(name);
  if (len > sizeof addr->sun_path - 1)
    len = sizeof addr->sun_path - 1;
  memcpy(addr->sun_path + 1, name, len); /* sun_path[0] == 0: abstract */
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

static int try_connect(const struct sockaddr_un *addr, socklen_t len) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -errno;
  int rc = connect(s, (const struct sockaddr *)addr, len) < 0 ? -errno : 0;
  close(s);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  struct sockaddr_un addr;
  socklen_t len = address(argv[2], &addr);
  if (!strcmp(argv[1], "connect")) {
    int rc = try_connect(&addr, len);
    printf("connect: %s\n", rc < 0 ? strerrorname_np(-rc) : "ok");
    return 0;
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&addr, len) < 0 || listen(s, 16) < 0) {
    printf("listen: %s\n", strerrorname_np(errno));
    return 1;
  }
  int self = try_connect(&addr, len);
  printf("self-connect: %s\n", self < 0 ? strerrorname_np(-self) : "ok");
  int accepted = self < 0 ? 0 : -1; /* the control's own connection */
  printf("listening\n");
  fflush(stdout);
  struct pollfd fds[2] = {{s, POLLIN, 0}, {0, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR)
      break;
    if (fds[0].revents & POLLIN) {
      int c = accept(s, 0, 0);
      if (c >= 0) {
        accepted++;
        close(c);
      }
    }
    if (fds[1].revents) {
      char buf[64];
      if (read(0, buf, sizeof buf) <= 0)
        break;
    }
  }
  printf("accepted %d\n", accepted);
  return 0;
}
