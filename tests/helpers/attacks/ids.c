/* Prints this process's ids and capability sets on one line:
 * "uid=R/E/S gid=R/E/S CapPrm=... CapEff=... NoNewPrivs=N".
 * "ids as ID PROG ARG..." first becomes uid and gid ID, with no
 * supplementary groups, then runs PROG. */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void field(const char *status, const char *key) {
  const char *at = strstr(status, key);
  if (!at) {
    printf(" %s?", key);
    return;
  }
  at += strlen(key);
  while (*at == ' ' || *at == '\t')
    at++;
  printf(" %.*s=%.*s", (int)strlen(key) - 1, key, (int)strcspn(at, "\n"), at);
}

int main(int argc, char **argv) {
  if (argc >= 4 && !strcmp(argv[1], "as")) {
    unsigned id = (unsigned)strtoul(argv[2], 0, 10);
    if (setgroups(0, 0) < 0 || setresgid(id, id, id) < 0 || setresuid(id, id, id) < 0) {
      perror("ids as");
      return 1;
    }
    execv(argv[3], argv + 3);
    perror("ids as: exec");
    return 127;
  }
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  char status[8192] = {0};
  FILE *f = fopen("/proc/self/status", "r");
  if (f) {
    fread(status, 1, sizeof status - 1, f);
    fclose(f);
  }
  printf("uid=%u/%u/%u gid=%u/%u/%u", r, e, s, gr, ge, gs);
  field(status, "CapPrm:");
  field(status, "CapEff:");
  field(status, "NoNewPrivs:");
  printf("\n");
  return 0;
}
