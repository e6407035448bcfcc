/* Tries to push TEXT (and a newline) into the input of every terminal it can
 * reach, as if typed there: each terminal descriptor it inherited, /dev/tty,
 * and init's descriptors through /proc/1/fd. Where TIOCSTI is refused
 * because the terminal is not its controlling terminal, it first tries to
 * make it one (TIOCSCTTY, then TIOCSCTTY with force), as a session leader
 * without a controlling terminal may, and then from a child in a session of
 * its own. Prints one line per terminal:
 *   WHAT [this-devpts|other]: injected[ after TIOCSCTTY| from a new session]
 *   WHAT [this-devpts|other]: ENAME (TIOCSCTTY: ..., then: ...; new session: ...)
 * "this-devpts" is a terminal of the devpts mounted on /dev/pts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *text;

static int push(int fd) {
  for (const char *p = text;; p++) {
    char c = *p ? *p : '\n';
    if (ioctl(fd, TIOCSTI, &c) < 0)
      return -errno;
    if (!*p)
      return 0;
  }
}

/* From a child in a session of its own, which has no controlling terminal
 * and so may take any terminal without one: "ok", or why not. */
static void from_new_session(int fd, char *why, size_t size) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (setsid() < 0)
      _exit(255);
    if (ioctl(fd, TIOCSCTTY, 0) < 0)
      _exit(errno & 0x7f);
    int rc = push(fd);
    _exit(rc < 0 ? 0x80 | (-rc & 0x7f) : 0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) == 255) {
    snprintf(why, size, "new session: failed");
    return;
  }
  int code = WEXITSTATUS(status);
  if (code == 0)
    snprintf(why, size, "ok");
  else if (code & 0x80)
    snprintf(why, size, "new session: TIOCSCTTY ok, TIOCSTI %s", strerrorname_np(code & 0x7f));
  else
    snprintf(why, size, "new session: TIOCSCTTY %s", strerrorname_np(code));
}

static void attack(int fd, const char *what) {
  struct stat st, pts;
  const char *kind = "other";
  if (fstat(fd, &st) == 0 && stat("/dev/pts/ptmx", &pts) == 0 && st.st_dev == pts.st_dev)
    kind = "this-devpts";
  int rc = push(fd);
  if (rc == 0) {
    printf("%s [%s]: injected\n", what, kind);
    return;
  }
  int first = -rc;
  /* Its own session may take the terminal if it has no controlling one. */
  int sctty = ioctl(fd, TIOCSCTTY, 0) < 0 ? errno : 0;
  if (sctty)
    sctty = ioctl(fd, TIOCSCTTY, 1) < 0 ? errno : 0;
  rc = sctty ? -sctty : push(fd);
  if (rc == 0) {
    printf("%s [%s]: injected after TIOCSCTTY\n", what, kind);
    return;
  }
  char why[96];
  from_new_session(fd, why, sizeof why);
  if (!strcmp(why, "ok")) {
    printf("%s [%s]: injected from a new session\n", what, kind);
    return;
  }
  printf("%s [%s]: %s (TIOCSCTTY: %s, then: %s; %s)\n", what, kind, strerrorname_np(first),
         sctty ? strerrorname_np(sctty) : "ok", strerrorname_np(-rc), why);
}

static void attack_path(const char *path) {
  int fd = open(path, O_RDWR | O_NOCTTY);
  if (fd < 0) {
    printf("%s: open %s\n", path, strerrorname_np(errno));
    return;
  }
  if (isatty(fd))
    attack(fd, path);
  else
    printf("%s: not a terminal\n", path);
  close(fd);
}

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  text = argv[1];
  setvbuf(stdout, 0, _IOLBF, 0);
  for (int fd = 0; fd < 256; fd++) {
    if (!isatty(fd))
      continue;
    char what[16];
    snprintf(what, sizeof what, "fd %d", fd);
    attack(fd, what);
  }
  attack_path("/dev/tty");
  attack_path("/proc/1/fd/0");
  attack_path("/proc/1/fd/1");
  attack_path("/proc/1/fd/2");
  return 0;
}
