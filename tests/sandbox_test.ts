/**
 * Integration tests: real sandboxes on a busybox rootfs, run as an
 * unprivileged user. Each test says what holds; all are ignored (with the
 * reason printed once) when run as root or where user namespaces are refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  busyboxRootfs,
  pollUntil,
  runIn,
  RunningNsbuild,
  skipReason,
  snapshotTree,
} from "./helpers/rootfs.ts";
import { keptCapabilityMask } from "../src/sandbox/capabilities.ts";
import {
  descendants,
  hostMountinfo,
  isAlive,
  killMarked,
  processesWithArg,
  uniqueSleepMarker,
} from "./helpers/proc.ts";

const reason = await skipReason();
const ignore = !!reason;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

/** Fails with everything nsbuild printed when the status is not the expected one. */
function assertStatus(
  result: { code: number; stdout: string; stderr: string },
  code: number,
): void {
  assert.deepEqual(
    result.code,
    code,
    `expected status ${code}, got ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  );
}

function sh(script: string): string[] {
  return ["/bin/sh", "-c", script];
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

async function tempDir(t: string): Promise<string> {
  return await Deno.makeTempDir({ prefix: `nsbuild-test-${t}-` });
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The first range for this user in /etc/subuid or /etc/subgid, by name or by uid. */
function subordinateRange(file: string, uid: number): { start: number; count: number } | undefined {
  const passwd = Deno.readTextFileSync("/etc/passwd");
  const user = passwd.split("\n").map((l) => l.split(":")).find((f) => f[2] === String(uid))?.[0];
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if ((owner === user || owner === String(uid)) && Number(count) > 0) {
      return { start: Number(start), count: Number(count) };
    }
  }
  return undefined;
}

/** The entries of $NSBUILD_HOME/runs (none when it does not exist). */
function runsLeft(home: string): string[] {
  try {
    return [...Deno.readDirSync(join(home, "runs"))].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

function normalizeMap(text: string): string[] {
  return lines(text).map((l) => l.trim().split(/\s+/).join(" "));
}

function netDevNames(text: string): string[] {
  return text.split("\n").slice(2).map((l) => l.split(":")[0]!.trim()).filter(Boolean).sort();
}

// ---------------------------------------------------------------------------
// Identity

test("the command runs as uid 0 and gid 0 inside the sandbox", async () => {
  const r = await runIn([], sh("id -u; id -g; id -G"));
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "0\n0\n0\n");
});

test("uid_map and gid_map map 0 to the user and 1..65536 to its subordinate ids", async () => {
  const uid = Deno.uid()!, gid = Deno.gid()!;
  const subuid = subordinateRange("/etc/subuid", uid);
  const subgid = subordinateRange("/etc/subgid", uid);
  assert(subuid && subgid, "the test user needs /etc/subuid and /etc/subgid entries");
  // 1..65536 inside: the user's whole range when it is smaller.
  const uidCount = Math.min(subuid.count, 65536), gidCount = Math.min(subgid.count, 65536);
  const r = await runIn([], sh("cat /proc/self/uid_map; echo --; cat /proc/self/gid_map"));
  assertStatus(r, 0);
  const [uidMap, gidMap] = r.stdout.split("--\n");
  assert.deepEqual(normalizeMap(uidMap!), [`0 ${uid} 1`, `1 ${subuid.start} ${uidCount}`]);
  assert.deepEqual(normalizeMap(gidMap!), [`0 ${gid} 1`, `1 ${subgid.start} ${gidCount}`]);
});

// ---------------------------------------------------------------------------
// The PID namespace and init

test("ps inside shows only the sandbox's processes, with nsbuild-init as pid 1", async () => {
  const r = await runIn([], sh("ps -o pid,ppid,comm; echo --; echo /proc/[0-9]*"));
  assertStatus(r, 0);
  const [psOut, procDirs] = r.stdout.split("--\n");
  const rows = lines(psOut!).slice(1).map((l) => l.trim().split(/\s+/));
  const byPid = new Map(rows.map(([pid, ppid, comm]) => [Number(pid), { ppid, comm }]));
  assert.deepEqual(byPid.get(1)?.comm, "nsbuild-init", `pid 1 is not nsbuild-init:\n${psOut}`);
  assert.deepEqual(byPid.get(2)?.comm, "sh", `pid 2 is not the command:\n${psOut}`);
  assert.deepEqual(byPid.get(2)?.ppid, "1");
  assert.deepEqual(
    rows.map((r) => r[2]).sort(),
    ["nsbuild-init", "ps", "sh"],
    `unexpected processes inside:\n${psOut}`,
  );
  // Only init and the shell (echo is a builtin): no host process shows in /proc.
  assert.deepEqual(procDirs, "/proc/1 /proc/2\n", "/proc shows processes beyond the sandbox's");
});

test("an orphaned grandchild is reparented to pid 1 and reaped, leaving no zombies", async () => {
  const script = `
    # The subshell exits at once, orphaning its background children.
    sh -c 'for i in 1 2 3 4 5; do sleep 0.05 & done; sleep 1000 & echo $! > /tmp/orphan'
    pid=$(cat /tmp/orphan)
    echo "ppid $(grep '^PPid:' /proc/$pid/status | tr -dc 0-9)"
    kill -9 $pid
    i=0
    while [ -e /proc/$pid ] && [ $i -lt 300 ]; do sleep 0.01; i=$((i+1)); done
    if [ -e /proc/$pid ]; then echo "orphan left: $(grep '^State:' /proc/$pid/status)"; else echo "orphan gone"; fi
    # The short sleeps have ended by now: init must have reaped them too.
    i=0
    while [ $i -lt 300 ]; do
      z=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)
      left=$(ps -o comm | grep -c '^sleep')
      [ "$z" -eq 0 ] && [ "$left" -eq 0 ] && break
      sleep 0.01; i=$((i+1))
    done
    echo "zombies $z"
    echo "sleeps $left"
  `;
  const r = await runIn([], sh(script));
  assertStatus(r, 0);
  assert.deepEqual(lines(r.stdout), ["ppid 1", "orphan gone", "zombies 0", "sleeps 0"]);
});

test("SIGKILL to the sandbox's pid 1 from the host ends every process in it, status 137", async () => {
  const marker = uniqueSleepMarker();
  const run = new RunningNsbuild([
    "run",
    "--rootfs",
    await busyboxRootfs(),
    "--",
    ...sh(`sleep 1000 ${marker} & sleep 1000 ${marker} & echo started; wait`),
  ]);
  try {
    await run.waitForStdout("started");
    const sleepers = await pollUntil(() => {
      const found = descendants(run.pid).filter((p) => p.argv.includes(marker));
      return found.length === 2 || run.exited ? found : undefined;
    }, 10_000);
    assert.equal(sleepers?.length, 2, `the sandbox's sleeps never showed up under nsbuild`);
    const tree = descendants(run.pid);
    const init = tree.filter((p) => p.name === "nsbuild-init");
    assert.deepEqual(
      init.length,
      1,
      `expected one nsbuild-init under nsbuild: ${JSON.stringify(tree)}`,
    );
    const inside = tree.filter((p) => p.name !== "nsbuild-monitor");
    Deno.kill(init[0]!.pid, "SIGKILL");
    const r = await run.finish();
    assertStatus(r, 137);
    const survivors = await pollUntil(
      () => {
        const left = inside.filter((p) => isAlive(p.pid));
        return left.length === 0 ? [] : undefined;
      },
      3_000,
    );
    assert(
      survivors,
      `processes of the sandbox outlived its pid 1: ${
        JSON.stringify(inside.filter((p) => isAlive(p.pid)))
      }`,
    );
    assert.deepEqual(processesWithArg(marker), []);
    assert.deepEqual(r.runsLeft, [], "the run directory was left behind");
  } finally {
    await run.abort();
    killMarked(marker);
  }
});

// ---------------------------------------------------------------------------
// UTS and network namespaces

test("the default hostname is nsbuild and --hostname sets another", async () => {
  const plain = await runIn([], ["hostname"]);
  assertStatus(plain, 0);
  assert.deepEqual(plain.stdout, "nsbuild\n");
  const named = await runIn(["--hostname", "builder-7"], ["hostname"]);
  assertStatus(named, 0);
  assert.deepEqual(named.stdout, "builder-7\n");
});

test("the hostname is fixed: set by the plan, and root inside cannot change it", async () => {
  const before = Deno.readTextFileSync("/proc/sys/kernel/hostname");
  const r = await runIn([], sh("hostname; hostname changed-inside; echo status=$?; hostname"));
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "nsbuild\nstatus=1\nnsbuild\n");
  assert.match(r.stderr, /Operation not permitted/);
  assert.deepEqual(Deno.readTextFileSync("/proc/sys/kernel/hostname"), before);
});

test("the domain name is fixed, never the host's", async () => {
  const r = await runIn([], sh("cat /proc/sys/kernel/domainname"));
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "(none)\n");
});

test("without --net the sandbox has only lo, and it is up", async () => {
  const r = await runIn(
    [],
    sh("cat /proc/net/dev; echo --; ip link; echo --; readlink /proc/self/ns/net"),
  );
  assertStatus(r, 0);
  const [dev, link, ns] = r.stdout.split("--\n");
  assert.deepEqual(netDevNames(dev!), ["lo"]);
  const linkLines = lines(link!).filter((l) => /^\d+:/.test(l));
  assert.deepEqual(linkLines.length, 1, `ip link shows more than lo:\n${link}`);
  assert.match(linkLines[0]!, /^1: lo: <[^>]*\bUP\b[^>]*>/);
  assert.notDeepEqual(ns!.trim(), Deno.readLinkSync("/proc/self/ns/net"));
});

test("with --net the sandbox shares the host's network interfaces", async () => {
  const r = await runIn(["--net"], sh("cat /proc/net/dev; echo --; readlink /proc/self/ns/net"));
  assertStatus(r, 0);
  const [dev, ns] = r.stdout.split("--\n");
  assert.deepEqual(netDevNames(dev!), netDevNames(Deno.readTextFileSync("/proc/net/dev")));
  assert.deepEqual(ns!.trim(), Deno.readLinkSync("/proc/self/ns/net"));
});

// ---------------------------------------------------------------------------
// The filesystem

test("files written inside reach neither the rootfs nor the host, and the rootfs is unmodified", async () => {
  const rootfs = await busyboxRootfs();
  const before = await snapshotTree(rootfs);
  const name = `nsbuild-written-${crypto.randomUUID()}`;
  const script = [
    `echo a > /${name}`,
    `echo b > /etc/${name}`,
    `echo c > /tmp/${name}`,
    `echo d > /root/${name}`,
    `echo e > /bin/${name}`,
    "echo appended >> /etc/passwd",
    "touch /bin/busybox",
    "chmod 700 /etc",
    "rm /bin/ls",
    "mkdir -p /usr/local/lib",
    `cat /${name} /etc/${name} /tmp/${name} /root/${name} /bin/${name}`,
  ].join(" && ");
  const r = await runIn([], sh(script));
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "a\nb\nc\nd\ne\n", "the writes did not succeed inside");
  for (const dir of ["", "etc", "tmp", "root", "bin"]) {
    assert(!exists(join(rootfs, dir, name)), `${dir}/${name} appeared in the rootfs`);
    assert(!exists(join("/", dir, name)), `/${dir}/${name} appeared on the host`);
  }
  assert.deepEqual(await snapshotTree(rootfs), before, "the rootfs changed");
  assert.deepEqual(r.runsLeft, [], "the run directory (the overlay's upper) was left behind");
});

test("root inside cannot mount (no CAP_SYS_ADMIN), and nothing reaches the host's mount table", async () => {
  const tag = `nsbuild-test-mount-${crypto.randomUUID()}`;
  const r = await runIn(
    [],
    sh(
      `mkdir -p /mnt; mount -t tmpfs ${tag} /mnt; echo status=$?; grep -c ${tag} /proc/self/mountinfo`,
    ),
  );
  assert.match(r.stdout, /^status=[1-9]\d*\n0\n$/, r.stdout + r.stderr);
  assert(!hostMountinfo().includes(tag), "the sandbox's tmpfs is in the host's mount table");
});

test("root inside keeps only the capabilities a package build needs", async () => {
  const r = await runIn([], sh("grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status"));
  assertStatus(r, 0);
  const caps = Object.fromEntries(
    lines(r.stdout).map((l) => l.split(/:\s+/)).map(([k, v]) => [k, BigInt(`0x${v}`)]),
  );
  const keep = keptCapabilityMask();
  assert.equal(caps.CapEff, keep, r.stdout);
  assert.equal(caps.CapBnd, keep, r.stdout);
  assert.equal(caps.CapAmb, 0n, r.stdout);
});

test("host files outside the rootfs and the binds are invisible inside", async () => {
  const secret = await tempDir("secret");
  try {
    await Deno.writeTextFile(join(secret, "file"), "host secret\n");
    const script = [
      `test -e ${secret} && echo "visible: ${secret}"`,
      `test -e ${join(secret, "file")} && echo "visible: file"`,
      "test -e /usr/bin/newuidmap && echo 'visible: /usr/bin/newuidmap'",
      "test -e /home && echo 'visible: /home'",
      `test -e ${Deno.cwd()} && echo 'visible: ${Deno.cwd()}'`,
      "echo --",
      "ls -A /",
      "echo --",
      "cut -d' ' -f5 /proc/self/mountinfo",
    ].join("; ");
    const r = await runIn([], sh(script));
    assertStatus(r, 0);
    const [visible, root, mountPoints] = r.stdout.split("--\n");
    assert.deepEqual(visible, "", "host paths are visible inside");
    assert.deepEqual(lines(root!).sort(), ["bin", "dev", "etc", "proc", "root", "tmp"]);
    const unexpected = lines(mountPoints!).filter((m) =>
      m !== "/" && m !== "/tmp" && !/^\/(proc|dev)(\/|$)/.test(m)
    );
    assert.deepEqual(unexpected, [], "mounts beyond the sandbox's own (the old root?) are visible");
  } finally {
    await Deno.remove(secret, { recursive: true });
  }
});

test("--bind is writable and writes reach the host, owned by the invoking user", async () => {
  const dir = await tempDir("bind");
  try {
    await Deno.writeTextFile(join(dir, "in.txt"), "from the host\n");
    const r = await runIn(
      ["--bind", `${dir}:/data`],
      sh("cat /data/in.txt; stat -c '%u:%g' /data/in.txt; echo from the sandbox > /data/out.txt"),
    );
    assertStatus(r, 0);
    assert.deepEqual(r.stdout, "from the host\n0:0\n");
    assert.deepEqual(await Deno.readTextFile(join(dir, "out.txt")), "from the sandbox\n");
    const info = await Deno.stat(join(dir, "out.txt"));
    assert.deepEqual([info.uid, info.gid], [Deno.uid(), Deno.gid()]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("--ro-bind is readable but refuses writes with EROFS", async () => {
  const dir = await tempDir("robind");
  try {
    await Deno.writeTextFile(join(dir, "in.txt"), "from the host\n");
    const r = await runIn(
      ["--ro-bind", `${dir}:/data`],
      sh("cat /data/in.txt; echo changed > /data/in.txt; touch /data/new; exit 0"),
    );
    assertStatus(r, 0);
    assert.deepEqual(r.stdout, "from the host\n");
    const refusals = lines(r.stderr).filter((l) => l.includes("Read-only file system"));
    assert.deepEqual(refusals.length, 2, `writes were not refused with EROFS:\n${r.stderr}`);
    assert.deepEqual(await Deno.readTextFile(join(dir, "in.txt")), "from the host\n");
    assert(!exists(join(dir, "new")), "a file was created through --ro-bind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("--tmpfs mounts a fresh writable tmpfs that hides what was there", async () => {
  const rootfs = await busyboxRootfs();
  const r = await runIn(
    ["--tmpfs", "/scratch", "--tmpfs", "/etc"],
    sh(
      "grep -E ' /(scratch|etc) ' /proc/self/mountinfo | cut -d' ' -f5,9 | sort; " +
        "ls -A /etc; echo data > /scratch/f && cat /scratch/f",
    ),
  );
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "/etc tmpfs\n/scratch tmpfs\ndata\n");
  assert(!exists(join(rootfs, "scratch")), "the --tmpfs mount point appeared in the rootfs");
  assert(exists(join(rootfs, "etc", "passwd")));
});

test("a host file owned by an unmapped id (root) shows as 65534 inside", async () => {
  const file = ["/etc/hostname", "/etc/passwd", "/etc/group"].find((f) => {
    try {
      const info = Deno.statSync(f);
      return info.uid === 0 && info.gid === 0;
    } catch {
      return false;
    }
  });
  assert(file, "the test needs a root-owned host file such as /etc/hostname");
  const r = await runIn(
    ["--ro-bind", `${file}:/etc/hostfile`],
    ["stat", "-c", "%u:%g", "/etc/hostfile"],
  );
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "65534:65534\n");
});

test("only stdin, stdout and stderr are open in the command", async () => {
  // The fds of an exec'd process (the shell's own list shows its transient ones).
  const script = `
    sleep 1000 & p=$!
    i=0
    while [ "$(cat /proc/$p/comm)" != sleep ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
    ls /proc/$p/fd
    kill $p
  `;
  const r = await runIn([], sh(script));
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "0\n1\n2\n", "descriptors of nsbuild leaked into the sandbox");
});

test("/dev holds the usual devices and sensitive /proc entries are masked or read-only", async () => {
  const masked = ["kcore", "keys", "timer_list", "sched_debug", "sysrq-trigger"]
    .filter((name) => exists(`/proc/${name}`));
  const script = [
    'for d in null zero full random urandom tty; do test -c /dev/$d || echo "missing /dev/$d"; done',
    "echo x > /dev/null || echo '/dev/null refused a write'",
    "test $(head -c 8 /dev/zero | wc -c) -eq 8 || echo '/dev/zero is short'",
    ...masked.map((name) =>
      `test $(cat /proc/${name} | wc -c) -eq 0 || echo 'readable: /proc/${name}'`
    ),
    "echo x 2>/dev/null > /proc/sys/kernel/hostname && echo '/proc/sys is writable'",
    "exit 0",
  ].join("; ");
  const r = await runIn([], sh(script));
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "");
});

// ---------------------------------------------------------------------------
// Exit statuses

test("exit status 0 when the command succeeds", async () => {
  const r = await runIn([], ["true"]);
  assertStatus(r, 0);
  assert.deepEqual(r.stderr, "");
});

test("exit status is the command's own (3)", async () => {
  const r = await runIn([], sh("exit 3"));
  assertStatus(r, 3);
});

test("exit status 125 when setup fails, naming the op, the path and the errno", async () => {
  const r = await runIn(["--cwd", "/nonexistent"], ["true"]);
  assertStatus(r, 125);
  assert.match(r.stderr, /\bchdir\b/);
  assert.match(r.stderr, /\/nonexistent\b/);
  assert.match(r.stderr, /\bENOENT\b/);
  assert.match(r.stderr, /hint: \S/, "the error suggests no fix");
  assert.deepEqual(r.runsLeft, []);
});

test("exit status 126 when the command cannot be executed (a directory)", async () => {
  const r = await runIn([], ["/etc"]);
  assertStatus(r, 126);
  assert.match(r.stderr, /\/etc/);
  assert.match(r.stderr, /\bEACCES\b/);
});

test("exit status 127 when the command is not found", async () => {
  const r = await runIn([], ["no-such-command"]);
  assertStatus(r, 127);
  assert.match(r.stderr, /no-such-command/);
  assert.match(r.stderr, /not found/);
});

test("exit status 137 when the command dies of SIGKILL", async () => {
  const r = await runIn([], sh("kill -9 $$"));
  assertStatus(r, 137);
});

// ---------------------------------------------------------------------------
// Nothing left behind

test("after the command ends no process and no run directory remain", async () => {
  const marker = uniqueSleepMarker();
  try {
    const r = await runIn([], sh(`sleep 1000 ${marker} & echo started`));
    assertStatus(r, 0);
    assert.deepEqual(r.stdout, "started\n");
    assert.deepEqual(processesWithArg(marker), [], "a background process outlived the sandbox");
    assert.deepEqual(r.runsLeft, [], "the run directory was left behind");
  } finally {
    killMarked(marker);
  }
});

test("after nsbuild itself is SIGKILLed no process, mount or run directory remains", async () => {
  const marker = uniqueSleepMarker();
  // The sleep ignores SIGTERM, SIGINT and SIGHUP: only the end of its PID
  // namespace can stop it, not a signal forwarded on the way.
  const run = new RunningNsbuild([
    "run",
    "--rootfs",
    await busyboxRootfs(),
    "--",
    ...sh(`trap '' TERM INT HUP; exec sleep 1000 ${marker}`),
  ]);
  try {
    // nsbuild's own command line carries the marker too: wait for the sleep itself.
    const seen = await pollUntil(
      () => processesWithArg(marker).some((p) => p.name === "sleep") || run.exited,
      10_000,
    );
    assert(!run.exited, `nsbuild exited early\nstderr: ${run.stderrText()}`);
    assert(seen, `the sandbox's sleep never showed up\nstderr: ${run.stderrText()}`);
    const runs = runsLeft(run.home).map((name) => join(run.home, "runs", name));
    assert.deepEqual(runs.length, 1, "expected one run directory while running");
    const tree = descendants(run.pid);
    run.child.kill("SIGKILL");
    const status = await run.child.status;
    assert.deepEqual(status.signal, "SIGKILL");
    const clean = await pollUntil(() => {
      const procs = processesWithArg(marker).length === 0 &&
        tree.every((p) => !isAlive(p.pid));
      const mounts = !hostMountinfo().includes(runs[0]!);
      const dirs = runsLeft(run.home).length === 0;
      return procs && mounts && dirs;
    }, 5_000);
    const left = {
      processes: tree.filter((p) => isAlive(p.pid)).map((p) => `${p.pid} ${p.name}`),
      marked: processesWithArg(marker).map((p) => p.pid),
      mounted: hostMountinfo().includes(runs[0]!),
      runs: runsLeft(run.home),
    };
    assert(clean, `left behind after nsbuild was killed: ${JSON.stringify(left)}`);
  } finally {
    killMarked(marker);
    await run.abort();
  }
});

for (const [signal, number] of [["SIGTERM", 15], ["SIGINT", 2], ["SIGHUP", 1]] as const) {
  test(`${signal} sent to nsbuild is forwarded to the command (status ${128 + number})`, async () => {
    const run = new RunningNsbuild([
      "run",
      "--rootfs",
      await busyboxRootfs(),
      "--",
      ...sh("echo ready; exec sleep 1000"),
    ]);
    try {
      await run.waitForStdout("ready");
      run.child.kill(signal);
      const r = await run.finish();
      assertStatus(r, 128 + number);
      assert.deepEqual(r.runsLeft, []);
    } finally {
      await run.abort();
    }
  });
}

// ---------------------------------------------------------------------------
// Streams, environment, working directory

test("stdin passes through to the command byte for byte", async () => {
  const data = new Uint8Array(256 * 1024);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const r = await runIn([], ["cat"], { stdin: data });
  assertStatus(r, 0);
  assert.deepEqual(r.stdoutBytes.length, data.length);
  assert(r.stdoutBytes.every((b, i) => b === data[i]), "stdout differs from what went in");
});

test("stdout and stderr of the command pass through separately", async () => {
  const r = await runIn([], sh("echo to stdout; echo to stderr >&2"));
  assertStatus(r, 0);
  assert.deepEqual(r.stdout, "to stdout\n");
  assert.deepEqual(r.stderr, "to stderr\n");
});

test("the environment is only what was given: host variables do not leak, --env arrives", async () => {
  const r = await runIn(["--env", "FOO=a b=c", "--env", "EMPTY="], ["env"], {
    env: { NSBUILD_TEST_LEAK: "leaked", TERM: "dumb-test" },
  });
  assertStatus(r, 0);
  const env = new Map(
    lines(r.stdout).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  assert(!env.has("NSBUILD_TEST_LEAK"), "a host variable leaked into the sandbox");
  assert(!env.has("NSBUILD_HOME"), "NSBUILD_HOME leaked into the sandbox");
  assert.deepEqual(env.get("FOO"), "a b=c");
  assert.deepEqual(env.get("EMPTY"), "");
  assert.deepEqual(env.get("HOME"), "/root");
  assert.match(env.get("PATH") ?? "", /(^|:)\/bin(:|$)/);
  // TERM is the one host variable nsbuild passes on, by design.
  assert.deepEqual([...env.keys()].sort(), ["EMPTY", "FOO", "HOME", "PATH", "TERM"]);
});

test("--cwd sets the working directory, / by default", async () => {
  const given = await runIn(["--cwd", "/etc"], ["pwd"]);
  assertStatus(given, 0);
  assert.deepEqual(given.stdout, "/etc\n");
  const plain = await runIn([], ["pwd"]);
  assertStatus(plain, 0);
  assert.deepEqual(plain.stdout, "/\n");
});
