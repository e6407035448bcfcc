/**
 * Integration tests for the command's terminal: nsbuild runs inside a real
 * pseudo-terminal (util-linux `script`), as it does when a person types
 * `nsbuild run -- /bin/sh`. With a terminal on stdin the command gets a pty
 * of the sandbox's own devpts, relayed by init; the invoking terminal stays
 * out of its reach. Ignored, with the reason printed once, when run as root
 * or where user namespaces are refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { busyboxRootfs, pollUntil, skipReason } from "./helpers/rootfs.ts";
import { processesWithArg } from "./helpers/proc.ts";
import { inTerminal, nsbuildLine, shellQuote, TerminalSession } from "./helpers/terminal.ts";

const reason = await skipReason();
const ignore = !!reason;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

/** `nsbuild run --rootfs <busybox> FLAGS -- ARGV` as a bash command line. */
async function run(argv: string[], flags: string[] = []): Promise<string> {
  return nsbuildLine(["run", "--rootfs", await busyboxRootfs(), ...flags, "--", ...argv]);
}

function assertShows(result: { code: number; text: string }, pattern: RegExp, what: string) {
  assert.match(result.text, pattern, `${what}; the terminal showed:\n${result.text}`);
}

function assertCode(result: { code: number; text: string }, code: number) {
  assert.equal(result.code, code, `expected status ${code}; the terminal showed:\n${result.text}`);
}

async function tempDir(name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `nsbuild-test-${name}-` });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/** The fields of /proc/PID/stat after the command name. */
function statFields(line: string): string[] {
  return line.slice(line.lastIndexOf(")") + 2).trim().split(/\s+/);
}

test("with a terminal on stdin the command gets a pty of the sandbox's own devpts", async () => {
  const script = [
    "tty",
    "test -t 0 && test -t 1 && test -t 2 && echo all-three-are-terminals",
    "echo fd0=$(readlink /proc/self/fd/0)",
    "echo pts=$(ls /dev/pts | tr '\\n' ' ')",
    'echo "stat=$(cat /proc/self/stat)"',
    'echo "shell=$$"',
  ].join("; ");
  const result = await inTerminal(await run(["/bin/sh", "-c", script]));
  assertCode(result, 0);
  assertShows(result, /^\/dev\/pts\/0$/m, "tty names the sandbox's first pty");
  assertShows(result, /^all-three-are-terminals$/m, "stdin, stdout and stderr are the pty");
  assertShows(result, /^fd0=\/dev\/pts\/0$/m, "fd 0 is the pty");
  // A private devpts instance: its own ptmx and the one pty, nothing of the host's.
  assertShows(result, /^pts=0 ptmx\s*$/m, "/dev/pts holds only the sandbox's pty");
  // cat's stat: it runs in the shell's session, with pts/0 (136:0) as its
  // controlling terminal, in the terminal's foreground process group.
  const stat = statFields(result.text.match(/^stat=(.*)$/m)![1]!);
  const shell = result.text.match(/^shell=(\d+)$/m)![1]!;
  const [_state, _ppid, pgrp, session, ttyNr, tpgid] = stat;
  assert.equal(session, shell, "the shell leads the session");
  assert.equal(Number(ttyNr), 136 << 8 | 0, "the controlling terminal is /dev/pts/0");
  assert.equal(tpgid, pgrp, "the command is the terminal's foreground job");
});

test("an interactive shell gets job control, and Ctrl-C interrupts only its foreground job", async () => {
  const marker = `30.${Date.now() % 1_000_000}`;
  const session = new TerminalSession(await run(["/bin/sh"]));
  try {
    let at = await session.waitFor("# ");
    await session.type("echo flags=$-; ps -o pid,tty,stat,comm\r");
    at = await session.waitFor(/flags=(\S*)/, at);
    at = await session.waitFor("# ", at);
    assert.match(session.text(), /flags=\S*m/, "job control (set -m) is on");
    assert.match(session.text(), /^\s*\d+\s+136,0\s+\S+\s+sh$/m, "ps shows sh on pts/0");
    assert.doesNotMatch(session.text(), /job control turned off|can't access tty/);

    await session.type(`sleep ${marker}\r`);
    const sleeping = await pollUntil(() => processesWithArg(marker).length > 0, 10_000);
    assert.ok(sleeping, `sleep ${marker} did not start:\n${session.text()}`);
    // Ctrl-C as the keyboard sends it: one byte, which the sandbox's pty
    // turns into SIGINT for its foreground job.
    await session.type("\x03");
    const gone = await pollUntil(() => processesWithArg(marker).length === 0, 10_000);
    assert.ok(gone, `Ctrl-C did not interrupt sleep:\n${session.text()}`);
    at = await session.waitFor("# ", at);
    await session.type("echo after-interrupt=$?\r");
    at = await session.waitFor(/after-interrupt=\d+/, at);
    assert.match(session.text(), /after-interrupt=130/, "the shell saw sleep die of SIGINT");

    // Ctrl-D at an empty prompt ends the shell: the shell survived until now.
    at = await session.waitFor("# ", at);
    await session.type("\x04");
    const result = await session.finish();
    assertCode(result, 0);
  } finally {
    await session.abort();
  }
});

test("the command's exit status passes through the terminal, 128+N for a signal", async () => {
  assertCode(await inTerminal(await run(["/bin/sh", "-c", "exit 7"])), 7);
  assertCode(await inTerminal(await run(["/bin/sh", "-c", "kill -TERM $$"])), 143);
  const missing = await inTerminal(await run(["/no/such/command"]));
  assertCode(missing, 127);
  assertShows(missing, /command not found/, "the missing command is named");
});

test("everything the command writes before it exits reaches the terminal", async () => {
  // More than the pty holds at once, written right up to the exit.
  const result = await inTerminal(
    await run(["/bin/sh", "-c", "seq 1 20000; echo last-line; exit 3"]),
  );
  assertCode(result, 3);
  const numbers = result.text.split("\n").filter((l) => /^\d+$/.test(l));
  assert.equal(numbers.length, 20000);
  assert.equal(numbers.at(-1), "20000");
  assertShows(result, /^last-line$/m, "the last line arrived");
});

test("typed input reaches the command, and the window size is the invoking terminal's", async () => {
  const session = new TerminalSession(
    `stty rows 33 cols 77; ${await run([
      "/bin/sh",
      "-c",
      'stty size; echo ready; read line; echo "got:$line"',
    ])}`,
  );
  try {
    const at = await session.waitFor("ready");
    await session.type("hello pty\r");
    await session.waitFor("got:hello pty", at);
    const result = await session.finish();
    assertCode(result, 0);
    assertShows(result, /^33 77$/m, "stty size inside shows the outer size");
  } finally {
    await session.abort();
  }
});

test("a resize of the invoking terminal reaches the command as SIGWINCH with the new size", async () => {
  const dir = await tempDir("winch");
  try {
    const inner = 'trap "stty size; exit 0" WINCH; stty size; touch /x/ready; ' +
      "while :; do sleep 0.05; done";
    // Without job control the background nsbuild stays in the terminal's
    // foreground process group, as a foreground nsbuild would be.
    const line = [
      "stty rows 20 cols 60",
      `${await run(["/bin/sh", "-c", inner], ["--bind", `${dir}:/x`])} </dev/tty & pid=$!`,
      `while [ ! -e ${shellQuote(dir)}/ready ]; do sleep 0.05; done`,
      "stty rows 33 cols 77",
      'wait $pid; echo "nsbuild-status=$?"',
    ].join("\n");
    const result = await inTerminal(line);
    assertCode(result, 0);
    assertShows(result, /^20 60$[\s\S]*^33 77$/m, "the size at start, then the new size");
    assertShows(result, /^nsbuild-status=0$/m, "the trap ended the command");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("nsbuild gives the invoking terminal its settings back, also when the command fails", async () => {
  const cases: [string[], string[], number][] = [
    [["/bin/sh", "-c", "exit 3"], [], 3],
    [["/no/such/command"], [], 127],
    [["/bin/true"], ["--cwd", "/no/such/dir"], 125],
  ];
  for (const [argv, flags, code] of cases) {
    const line = [
      "before=$(stty -g)",
      `${await run(argv, flags)}; echo "status=$?"`,
      'if [ "$(stty -g)" = "$before" ]; then echo settings-restored; else stty -a; fi',
    ].join("\n");
    const result = await inTerminal(line);
    assertShows(result, new RegExp(`^status=${code}$`, "m"), `${argv[0]} ends with ${code}`);
    assertShows(result, /^settings-restored$/m, "stty -g is what it was before");
  }
});

const TIOCSTI_C = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static struct stat own;

/* Which terminal a descriptor leads to: one of the devpts mounted on
 * /dev/pts, known by its inode; for /dev/tty, whose inode is its own, by a
 * window size set through it and read back through fd 0. */
static const char *kind_of(int fd) {
  struct stat st, zero;
  struct winsize saved, mark = {111, 222, 0, 0}, seen = {0, 0, 0, 0};
  if (fstat(fd, &st) == 0 && st.st_dev == own.st_dev)
    return "this-devpts";
  if (fstat(0, &zero) < 0 || zero.st_dev != own.st_dev || ioctl(fd, TIOCGWINSZ, &saved) < 0)
    return "other";
  ioctl(fd, TIOCSWINSZ, &mark);
  ioctl(0, TIOCGWINSZ, &seen);
  ioctl(fd, TIOCSWINSZ, &saved);
  return seen.ws_row == 111 && seen.ws_col == 222 ? "this-devpts" : "other";
}

/* Pushes a line into a terminal's input, as if typed there; reports each try. */
static void inject(int fd, const char *what, const char *text) {
  const char *kind = kind_of(fd);
  for (const char *p = text;; p++) {
    char c = *p ? *p : '\\n';
    if (ioctl(fd, TIOCSTI, &c) < 0) {
      printf("%s (%s): %s\\n", what, kind, strerror(errno));
      return;
    }
    if (!*p)
      break;
  }
  printf("%s (%s): injected\\n", what, kind);
}

static void try_path(const char *path, const char *text) {
  int fd = open(path, O_RDWR | O_NOCTTY);
  if (fd < 0) {
    printf("%s: %s\\n", path, strerror(errno));
    return;
  }
  if (isatty(fd))
    inject(fd, path, text);
  else
    printf("%s: not a terminal\\n", path);
  close(fd);
}

int main(int argc, char **argv) {
  if (argc != 2 || stat("/dev/pts/ptmx", &own) < 0)
    return 2;
  for (int fd = 0; fd < 1024; fd++) {
    if (!isatty(fd))
      continue;
    char what[32];
    snprintf(what, sizeof what, "fd %d", fd);
    inject(fd, what, argv[1]);
  }
  try_path("/dev/tty", argv[1]);
  /* Init holds the invoking terminal: its descriptors must stay out of reach. */
  try_path("/proc/1/fd/0", argv[1]);
  try_path("/proc/1/fd/1", argv[1]);
  try_path("/proc/1/fd/2", argv[1]);
  return 0;
}
`;

/** Whether an unprivileged TIOCSTI works at all on this kernel (6.2+ can turn it off). */
function tiocstiAllowed(): boolean {
  try {
    return Deno.readTextFileSync("/proc/sys/dev/tty/legacy_tiocsti").trim() !== "0";
  } catch {
    return true; // Before Linux 6.2 there is no switch: it is allowed.
  }
}

test("TIOCSTI from inside is refused by the filter, and never reaches the invoking terminal", async () => {
  const dir = await tempDir("tiocsti");
  try {
    await Deno.writeTextFile(join(dir, "tiocsti.c"), TIOCSTI_C);
    const cc = await new Deno.Command("gcc", {
      args: ["-static", "-O2", "-o", join(dir, "tiocsti"), join(dir, "tiocsti.c")],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    assert.ok(cc.success, "gcc -static failed (apt-get install gcc libc6-dev)");
    const allowed = tiocstiAllowed();
    // After the program, whatever the shell reading the terminal gets next.
    const readBack = (who: string) =>
      `read -t 2 line; echo "${who}-read=[$line]"; while read -t 0.2 more; do :; done`;

    // The control: run on the invoking terminal itself, the program does reach it.
    if (allowed) {
      const control = await inTerminal(
        `${shellQuote(join(dir, "tiocsti"))} HOST-INJECTED\n${readBack("outer")}`,
      );
      assertShows(control, /^fd 0 \(this-devpts\): injected$/m, "the control injected");
      assertShows(control, /^outer-read=\[HOST-INJECTED\]$/m, "the control's text was read");
    }

    const inner = `/opt/t/tiocsti SANDBOX-INJECTED; ${readBack("inner")}`;
    const result = await inTerminal(
      `${await run(["/bin/sh", "-c", inner], ["--ro-bind", `${dir}:/opt/t`])}\n${
        readBack("outer")
      }`,
    );
    assertCode(result, 0);
    // Every terminal the command can reach is the sandbox's pty...
    const tries = result.text.split("\n").filter((l) => /^(fd \d+|\/dev\/tty) \(/.test(l));
    assert.ok(tries.length >= 4, `fds 0-2 and /dev/tty were tried:\n${result.text}`);
    for (const line of tries) assert.match(line, /\(this-devpts\)/, line);
    // ...and init's descriptors, which hold the invoking terminal, cannot be opened.
    for (const fd of [0, 1, 2]) {
      assertShows(
        result,
        new RegExp(`^/proc/1/fd/${fd}: (Permission denied|Operation not permitted)$`, "m"),
        `init's fd ${fd} is out of reach`,
      );
    }
    // The seccomp filter refuses TIOCSTI even on the sandbox's own pty.
    for (const line of tries) assert.match(line, /: Operation not permitted$/, line);
    assertShows(result, /^inner-read=\[\]$/m, "the sandbox's own pty got nothing either");
    // Nothing arrived at the shell that reads the invoking terminal afterwards.
    assertShows(result, /^outer-read=\[\]$/m, "the invoking terminal got nothing");
    assert.doesNotMatch(result.text, /outer-read=\[.*INJECTED/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("without a terminal on stdin nothing changes: no pty, no controlling terminal", async () => {
  const script =
    'tty; echo "stat=$(cat /proc/self/stat)"; test -t 1 && echo stdout-is-a-terminal; ' +
    "ls /dev/pts | tr '\\n' ' '; echo";
  const result = await inTerminal(`${await run(["/bin/sh", "-c", script])} </dev/null`);
  assertCode(result, 0);
  assertShows(result, /^not a tty$/m, "tty says stdin is not a terminal");
  const stat = statFields(result.text.match(/^stat=(.*)$/m)![1]!);
  assert.equal(stat[4], "0", "no controlling terminal (tty_nr 0)");
  // stdout is the invoking terminal, passed through as before.
  assertShows(result, /^stdout-is-a-terminal$/m, "stdout is still the invoking terminal");
  assertShows(result, /^ptmx $/m, "no pty was opened in the sandbox");
});
