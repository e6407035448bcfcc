/* Removes a directory tree with raw system calls (the monitor runs it after
 * the sandbox ends). Never follows a symlink: each directory is opened with
 * O_NOFOLLOW relative to its parent, and links are unlinked, not read.
 * Recursion is bounded: a directory deeper than MAX_DEPTH is moved up to the
 * top and removed in a later pass, so a hostile build cannot exhaust the
 * stack with a deep tree. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat */
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor.h"

#define MAX_DEPTH 64

struct linux_dirent64 {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

struct walk {
  int top;
  unsigned long moved;
  int err;
};

static void note(struct walk *w, int err) {
  if (!w->err)
    w->err = err;
}

static int is_dir(int dirfd, const struct linux_dirent64 *d) {
  if (d->d_type != DT_UNKNOWN)
    return d->d_type == DT_DIR;
  struct stat st;
  if (fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return 0;
  return S_ISDIR(st.st_mode);
}

/* A name for a directory moved up to the top: "deep-" and a counter. */
static void deep_name(char *buf, unsigned long n) {
  char digits[24];
  int len = 0;
  do {
    digits[len++] = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  memcpy(buf, ".nsbuild-deep-", 14);
  for (int i = 0; i < len; i++)
    buf[14 + i] = digits[len - 1 - i];
  buf[14 + len] = 0;
}

/* Empties the directory open at fd; returns how many entries it removed or
 * moved. */
static long empty_dir(struct walk *w, int fd, int depth) {
  char buf[4096];
  long done = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) {
      note(w, errno);
      return done;
    }
    if (n == 0)
      return done;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (!strcmp(name, ".") || !strcmp(name, ".."))
        continue;
      if (!is_dir(fd, d)) {
        if (unlinkat(fd, name, 0) < 0)
          note(w, errno);
        else
          done++;
        continue;
      }
      if (depth >= MAX_DEPTH) {
        char moved[40];
        deep_name(moved, w->moved++);
        if (renameat(fd, name, w->top, moved) < 0)
          note(w, errno);
        else
          done++;
        continue;
      }
      int child = openat(fd, name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) {
        note(w, errno);
        continue;
      }
      done += empty_dir(w, child, depth + 1);
      close(child);
      if (unlinkat(fd, name, AT_REMOVEDIR) < 0)
        note(w, errno);
      else
        done++;
    }
  }
}

int nsb_remove_tree(const char *path) {
  int top = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (top < 0)
    return errno == ENOENT ? 0 : -errno;
  struct walk w = {top, 0, 0};
  /* Entries removed while reading may shift the directory offsets, and deep
   * directories come back to the top: go round until a pass finds nothing. */
  while (empty_dir(&w, top, 0) > 0)
    lseek(top, 0, SEEK_SET);
  close(top);
  if (rmdir(path) < 0 && errno != ENOENT)
    return -(w.err ? w.err : errno);
  return 0;
}
