/* Runs a program with a real pseudo-terminal that it holds itself, as an
 * IDE or a CI runner does, then tells what was left in the terminal's input
 * queue, i.e. what the program pushed into it as if typed:
 *   ptyhold out PROG ARG...  the terminal is PROG's stdout and stderr,
 *                            stdin is /dev/null
 *   ptyhold all PROG ARG...  the terminal is PROG's stdin, stdout, stderr
 * PROG runs in a session of its own, without a controlling terminal. What
 * it writes to the terminal is copied to stdout; then "pty-input=[...]"
 * (bytes outside printable ASCII as \xNN) and "status=N". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void copy_output(int master, int timeout_ms) {
  char buf[4096];
  struct pollfd p = {master, POLLIN, 0};
  while (poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN)) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0)
      break;
    fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);
  }
}

int main(int argc, char **argv) {
  if (argc < 3 || (strcmp(argv[1], "out") && strcmp(argv[1], "all")))
    return 2;
  int all = !strcmp(argv[1], "all");
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
    return perror("posix_openpt"), 2;
  const char *name = ptsname(master);
  int slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
  if (slave < 0)
    return perror("open slave"), 2;
  /* Only what the program writes comes back: no echo of typed input. */
  struct termios t;
  tcgetattr(slave, &t);
  t.c_lflag &= ~(tcflag_t)ECHO;
  tcsetattr(slave, TCSANOW, &t);

  pid_t child = fork();
  if (child == 0) {
    setsid();
    int null = open("/dev/null", O_RDONLY);
    dup2(all ? slave : null, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    execvp(argv[2], argv + 2);
    _exit(127);
  }
  int status = 0;
  for (;;) {
    copy_output(master, 50);
    pid_t w = waitpid(child, &status, WNOHANG);
    if (w == child || (w < 0 && errno != EINTR))
      break;
  }
  copy_output(master, 200);

  /* Whatever waits in the input queue, canonical line or not. */
  tcgetattr(slave, &t);
  cfmakeraw(&t);
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  tcsetattr(slave, TCSANOW, &t);
  fcntl(slave, F_SETFL, O_NONBLOCK);
  printf("\npty-input=[");
  char buf[4096];
  ssize_t n;
  while ((n = read(slave, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)buf[i];
      if (c >= 0x20 && c < 0x7f && c != '\\')
        putchar(c);
      else
        printf("\\x%02x", c);
    }
  printf("]\nstatus=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 0;
}
