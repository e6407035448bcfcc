/**
 * The default seccomp filter and the dropped capabilities, for real, as the
 * unprivileged user: a static probe calls each system call the filter has
 * an opinion on, inside a busybox sandbox.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runIn, skipReason } from "./helpers/rootfs.ts";

const reason = await skipReason();
const EPERM = 1;
const ENOSYS = 38;

let probeDir: Promise<string> | undefined;

/** The probe, compiled once with gcc -static (busybox has no libc to link against). */
function compiledProbe(): Promise<string> {
  probeDir ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "nsbuild-test-seccomp-" });
    const source = new URL("./helpers/seccomp/probe.c", import.meta.url).pathname;
    const cc = await new Deno.Command("gcc", {
      args: ["-static", "-O2", "-o", join(dir, "probe"), source],
    }).output();
    assert.ok(cc.success, `gcc -static failed: ${new TextDecoder().decode(cc.stderr)}`);
    return dir;
  })();
  return probeDir;
}

async function probe(flags: string[]): Promise<Record<string, number>> {
  const dir = await compiledProbe();
  const r = await runIn(["--ro-bind", `${dir}:/opt/probe`, ...flags], ["/opt/probe/probe"]);
  assert.equal(r.code, 0, r.stderr);
  return Object.fromEntries(
    r.stdout.trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k!, Number(v)]),
  );
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !!reason, sanitizeResources: false, fn });
}

test("the default filter denies each dangerous call with EPERM, clone3 with ENOSYS", async () => {
  const seen = await probe([]);
  for (
    const name of [
      "keyctl",
      "add_key",
      "request_key",
      "kexec_load",
      "bpf",
      "userfaultfd",
      "perf_event_open",
      "personality-norandom",
      "personality-bit31",
      "unshare-user",
      "ioctl-tiocsti",
    ]
  ) {
    assert.equal(seen[name], EPERM, `${name}: ${JSON.stringify(seen)}`);
  }
  assert.equal(seen.clone3, ENOSYS, JSON.stringify(seen));
});

test("the default filter lets ordinary calls through", async () => {
  const seen = await probe([]);
  assert.equal(seen["personality-query"], 0, JSON.stringify(seen));
  assert.equal(seen["personality-linux"], 0, JSON.stringify(seen));
  assert.equal(seen.getpid, 0, JSON.stringify(seen));
  // Not the filter's: without CAP_SYS_ADMIN the kernel itself refuses.
  assert.equal(seen["unshare-uts"], EPERM, JSON.stringify(seen));
});

test("--relax-seccomp lets a named group through and keeps the rest", async () => {
  const seen = await probe(["--relax-seccomp", "personality", "--relax-seccomp", "keyring"]);
  assert.equal(seen["personality-norandom"], 0, JSON.stringify(seen));
  assert.notEqual(seen.keyctl, EPERM, JSON.stringify(seen));
  assert.equal(seen.bpf, EPERM, JSON.stringify(seen));
  assert.equal(seen["ioctl-tiocsti"], EPERM, JSON.stringify(seen));
});

test("--no-seccomp runs unfiltered, and says so", async () => {
  const dir = await compiledProbe();
  const r = await runIn(["--ro-bind", `${dir}:/opt/probe`, "--no-seccomp"], ["/opt/probe/probe"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /--no-seccomp: the command runs without the system call filter/);
  assert.match(r.stdout, /^clone3 (?!38)\d+$/m);
});

test("the clocks run ahead by the planned offset only in a time namespace nsbuild asked for", async () => {
  const r = await runIn([], [
    "/bin/sh",
    "-c",
    "readlink /proc/self/ns/time; cut -d. -f1 /proc/uptime",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [ns, uptime] = r.stdout.trim().split("\n");
  assert.equal(ns, Deno.readLinkSync("/proc/self/ns/time"), "no time namespace without an offset");
  assert.ok(Number(uptime) < 10 * 365 * 86400, r.stdout);
});
