import assert from "node:assert/strict";
import { resolve } from "node:path";
import { CliError } from "./errors.ts";
import { parseRunArgs, RUN_USAGE } from "./run.ts";
import { DEFAULT_PATH } from "../sandbox/spec.ts";

/** Asserts that parsing fails with a CliError whose message matches. */
function assertUsageError(args: string[], message: RegExp): void {
  assert.throws(() => parseRunArgs(args), (e: unknown) => {
    assert.ok(e instanceof CliError, `CliError for ${JSON.stringify(args)}`);
    assert.match(e.message, message);
    assert.match(e.message, /^run: /);
    assert.equal(e.hint, `usage: ${RUN_USAGE}`);
    assert.equal(e.status, 125);
    return true;
  });
}

Deno.test("parseRunArgs() requires `--` before the command", () => {
  assertUsageError(["--rootfs", "/r", "sh"], /put `--` before the command/);
  assertUsageError([], /put `--` before the command/);
});

Deno.test("parseRunArgs() requires a command after `--`", () => {
  assertUsageError(["--rootfs", "/r", "--"], /no command after `--`/);
});

Deno.test("parseRunArgs() requires one of --rootfs and --base", () => {
  assertUsageError(["--net", "--", "sh"], /--rootfs DIR or --base REF/);
  assertUsageError(["--rootfs", "", "--", "sh"], /--rootfs DIR or --base REF/);
  assertUsageError(["--rootfs", "/r", "--base", "debian:bookworm", "--", "sh"], /not both/);
});

Deno.test("parseRunArgs() keeps --base for the runner to resolve", () => {
  const options = parseRunArgs(["--base", "tar:x.tar", "--", "sh"]);
  assert.equal(options.base, "tar:x.tar");
  assert.equal(options.rootfs, "");
});

Deno.test("parseRunArgs() rejects an unknown option, naming it", () => {
  assertUsageError(["--rootfs", "/r", "--frob", "--", "sh"], /unknown option.*--frob/i);
  assertUsageError(["--rootfs", "/r", "-x", "--", "sh"], /unknown option.*-x/i);
});

Deno.test("parseRunArgs() rejects positional arguments before `--`", () => {
  assertUsageError(["--rootfs", "/r", "extra", "--", "sh"], /unexpected argument.*extra/i);
});

Deno.test("parseRunArgs() rejects an option missing its value", () => {
  assertUsageError(["--rootfs", "/r", "--cwd"], /--cwd needs a value/);
});

Deno.test("parseRunArgs() rejects a single-valued option given twice", () => {
  assertUsageError(["--rootfs", "/a", "--rootfs", "/b", "--", "sh"], /--rootfs was given twice/);
});

Deno.test("parseRunArgs() keeps everything after `--` as the command, options included", () => {
  const opts = parseRunArgs(["--rootfs", "/r", "--", "sh", "-c", "--rootfs", "--", "x"]);
  assert.deepEqual(opts.argv, ["sh", "-c", "--rootfs", "--", "x"]);
});

Deno.test("parseRunArgs() fills in defaults: hostname nsbuild, cwd /, PATH and HOME, no net", () => {
  const opts = parseRunArgs(["--rootfs", "/srv/rootfs", "--", "true"]);
  assert.deepEqual(opts, {
    rootfs: "/srv/rootfs",
    binds: [],
    tmpfs: [],
    network: false,
    hostname: "nsbuild",
    env: { PATH: DEFAULT_PATH, HOME: "/root" },
    cwd: "/",
    argv: ["true"],
    seccomp: { relax: [] },
  });
  assert.equal(DEFAULT_PATH, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
});

Deno.test("parseRunArgs() takes only TERM from the host environment", () => {
  const opts = parseRunArgs(["--rootfs", "/r", "--", "true"], {
    TERM: "xterm-256color",
    PATH: "/host/bin",
    HOME: "/home/alice",
    LANG: "de_DE.UTF-8",
    SSH_AUTH_SOCK: "/tmp/agent",
  });
  assert.deepEqual(opts.env, { PATH: DEFAULT_PATH, HOME: "/root", TERM: "xterm-256color" });
  const noTerm = parseRunArgs(["--rootfs", "/r", "--", "true"], { PATH: "/host/bin" });
  assert.deepEqual(noTerm.env, { PATH: DEFAULT_PATH, HOME: "/root" });
});

Deno.test("parseRunArgs() sets --env KEY=VALUE pairs, splitting at the first '='", () => {
  const opts = parseRunArgs([
    "--rootfs",
    "/r",
    "--env",
    "A=1",
    "--env=B=x=y",
    "--env",
    "EMPTY=",
    "--env",
    "PATH=/opt/bin",
    "--",
    "env",
  ], { TERM: "dumb" });
  assert.deepEqual(opts.env, {
    PATH: "/opt/bin",
    HOME: "/root",
    TERM: "dumb",
    A: "1",
    B: "x=y",
    EMPTY: "",
  });
});

Deno.test("parseRunArgs() rejects --env without a key or without '='", () => {
  assertUsageError(
    ["--rootfs", "/r", "--env", "=x", "--", "sh"],
    /--env needs KEY=VALUE, got "=x"/,
  );
  assertUsageError(["--rootfs", "/r", "--env", "NOEQ", "--", "sh"], /got "NOEQ"/);
});

Deno.test("parseRunArgs() keeps --bind and --ro-bind in the order given", () => {
  const opts = parseRunArgs([
    "--rootfs",
    "/r",
    "--ro-bind",
    "/a:/x",
    "--bind",
    "/b:/y",
    "--ro-bind=/c:/z",
    "--bind=/d:/w",
    "--",
    "sh",
  ]);
  assert.deepEqual(opts.binds, [
    { source: "/a", target: "/x", readonly: true, directory: true },
    { source: "/b", target: "/y", readonly: false, directory: true },
    { source: "/c", target: "/z", readonly: true, directory: true },
    { source: "/d", target: "/w", readonly: false, directory: true },
  ]);
});

Deno.test("parseRunArgs() splits a bind at its first ':' and binds SRC onto itself without one", () => {
  const opts = parseRunArgs([
    "--rootfs",
    "/r",
    "--bind",
    "/host/src:/src:weird",
    "--ro-bind",
    "/usr/share/doc",
    "--",
    "sh",
  ]);
  assert.deepEqual(opts.binds.map((b) => [b.source, b.target]), [
    ["/host/src", "/src:weird"],
    ["/usr/share/doc", "/usr/share/doc"],
  ]);
});

Deno.test("parseRunArgs() resolves relative host paths against the current directory", () => {
  const opts = parseRunArgs(["--rootfs", "rootfs", "--bind", "src:/src", "--", "sh"]);
  assert.equal(opts.rootfs, resolve(Deno.cwd(), "rootfs"));
  assert.equal(opts.binds[0]!.source, resolve(Deno.cwd(), "src"));
  assert.equal(opts.binds[0]!.target, "/src");
});

Deno.test("parseRunArgs() rejects a relative bind target", () => {
  assertUsageError(
    ["--rootfs", "/r", "--bind", "/a:src", "--", "sh"],
    /--bind target must be absolute inside the sandbox: "src"/,
  );
  assertUsageError(
    ["--rootfs", "/r", "--ro-bind", "rel", "--", "sh"],
    /--ro-bind target must be absolute/,
  );
});

Deno.test("parseRunArgs() rejects a bind with an empty source or target", () => {
  assertUsageError(["--rootfs", "/r", "--bind", ":/x", "--", "sh"], /--bind needs SRC:DST/);
  assertUsageError(["--rootfs", "/r", "--ro-bind", "/a:", "--", "sh"], /--ro-bind needs SRC:DST/);
});

Deno.test("parseRunArgs() reads --net, --hostname, --cwd and --tmpfs", () => {
  const opts = parseRunArgs([
    "--rootfs",
    "/r",
    "--net",
    "--hostname",
    "builder",
    "--cwd",
    "/build",
    "--tmpfs",
    "/var/tmp",
    "--tmpfs",
    "/run",
    "--",
    "make",
  ]);
  assert.equal(opts.network, true);
  assert.equal(opts.hostname, "builder");
  assert.equal(opts.cwd, "/build");
  assert.deepEqual(opts.tmpfs, ["/var/tmp", "/run"]);
});

Deno.test("parseRunArgs() rejects a relative --tmpfs or --cwd", () => {
  assertUsageError(
    ["--rootfs", "/r", "--tmpfs", "tmp", "--", "sh"],
    /--tmpfs target must be absolute: "tmp"/,
  );
  assertUsageError(["--rootfs", "/r", "--cwd", "build", "--", "sh"], /--cwd must be absolute/);
});

Deno.test("parseRunArgs() relaxes named seccomp groups, or turns the filter off", () => {
  const relaxed = parseRunArgs(["--rootfs", "/r", "--relax-seccomp", "perf", "--", "true"]);
  assert.deepEqual(relaxed.seccomp, { relax: ["perf"] });
  const off = parseRunArgs(["--rootfs", "/r", "--no-seccomp", "--", "true"]);
  assert.equal(off.seccomp, "off");
});

Deno.test("parseRunArgs() refuses an unknown or fixed seccomp group, and both flags at once", () => {
  assertUsageError(
    ["--rootfs", "/r", "--relax-seccomp", "ptrace", "--", "true"],
    /not a seccomp rule group/,
  );
  assertUsageError(
    ["--rootfs", "/r", "--relax-seccomp", "tiocsti", "--", "true"],
    /cannot be relaxed/,
  );
  assertUsageError(
    ["--rootfs", "/r", "--no-seccomp", "--relax-seccomp", "bpf", "--", "true"],
    /not both/,
  );
});
