/**
 * The adversarial suite: a command inside the sandbox tries to break out or
 * to reach what is not its own, one attempt per test, run by the
 * unprivileged user. Each test makes the attempt for real, shows it refused
 * with the evidence from inside (exit statuses, errno names, the shell's
 * messages) and checks on the host that nothing changed; where the attack
 * could be refused for an unrelated reason, a control shows that the same
 * attack succeeds without the defence (on the host, or with --net). Ignored,
 * with the reason printed once, when run as root or where user namespaces
 * are refused.
 */
import assert from "node:assert/strict";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  busyboxRootfs,
  NSBUILD_BIN,
  runIn,
  RunningNsbuild,
  skipReason,
  snapshotTree,
} from "./helpers/rootfs.ts";
import { isAlive, processesWithArg } from "./helpers/proc.ts";
import {
  attackBind,
  attackDir,
  ATTACKS,
  fingerprint,
  hostAttack,
  NsbuildFromShell,
  onHeldPty,
} from "./helpers/attack.ts";
import { PROC_MASKED } from "../src/sandbox/plan.ts";

const reason = await skipReason();
const ignore = !!reason;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

type Result = { code: number; stdout: string; stderr: string };

function show(r: Result): string {
  return `status ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

function sh(script: string): string[] {
  return ["/bin/sh", "-c", script];
}

/** `nsbuild run` of a shell script over the busybox rootfs, the attack programs bound. */
async function attack(script: string, flags: string[] = []): Promise<Result> {
  return await runIn([...await attackBind(), ...flags], sh(script));
}

/** The value of `KEY=VALUE` on its own line of the output, or fails. */
function value(r: Result, key: string): string {
  const m = r.stdout.match(new RegExp(`^${key}=(.*)$`, "m"));
  assert.ok(m, `the attack did not report ${key}:\n${show(r)}`);
  return m[1]!;
}

/** Asserts the shell reported a non-zero status for KEY (`echo KEY=$?` after the attempt). */
function assertRefused(r: Result, key: string): void {
  const status = value(r, key);
  assert.notEqual(status, "0", `${key} succeeded inside the sandbox:\n${show(r)}`);
}

/** Asserts a probe line ("WHAT: ok" or "WHAT: ENAME") reports a refusal. */
function assertProbeRefused(r: Result, what: string): void {
  const line = r.stdout.split("\n").find((l) => l.startsWith(`${what}: `));
  assert.ok(line, `no result for ${what}:\n${show(r)}`);
  assert.notEqual(line, `${what}: ok`, `${what} succeeded inside the sandbox:\n${show(r)}`);
  assert.match(line, /: E[A-Z0-9]+$/, `${what}: ${line}`);
}

async function tempDir(name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `nsbuild-test-${name}-` });
  await Deno.chmod(dir, 0o755);
  return dir;
}

function randomMarker(what: string): string {
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16))
    .join("");
  return `nsbuild-adv-${what}-${hex}`;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// The filesystem

test("writes outside the binds reach neither the host nor the rootfs", async () => {
  const parent = await tempDir("outside");
  const inner = join(parent, "inner");
  const victim = join(parent, "victim");
  const home = homedir();
  const homeName = randomMarker("home-write");
  try {
    await Deno.mkdir(inner);
    await Deno.writeTextFile(victim, "original\n");
    // A symlink planted in the bind that names a host path: followed inside,
    // it resolves in the sandbox's root, never the host's.
    await Deno.symlink(victim, join(inner, "to-victim"));
    await Deno.symlink(parent, join(inner, "to-parent"));
    const rootfs = await busyboxRootfs();
    const rootfsBefore = await snapshotTree(rootfs);
    const parentBefore = (await snapshotTree(parent)).filter((l) => !l.startsWith("inner"));
    const r = await attack(
      [
        "echo legit > /w/legit; echo legit=$?",
        "echo pwned > /w/../escaped; echo dotdot=$?",
        "echo pwned > /w/to-victim; echo symlink-file=$?",
        "echo pwned > /w/to-parent/victim; echo symlink-dir=$?",
        "echo pwned > /w/to-parent/escaped; echo symlink-dir-new=$?",
        `echo pwned > ${victim}; echo host-path=$?`,
        "echo pwned > /proc/1/root/escaped-through-init; echo init-root=$?",
        "echo pwned > /proc/self/root/../../escaped-through-self; echo self-root=$?",
        `mkdir -p ${home} && echo pwned > ${home}/${homeName}; echo home=$?`,
        "echo pwned > /bin/busybox-was-here; echo rootfs=$?",
        "exit 0",
      ].join("\n"),
      ["--bind", `${inner}:/w`],
    );
    assert.equal(r.code, 0, show(r));
    // The control: the bind itself is writable and its writes reach the host.
    assert.equal(value(r, "legit"), "0", show(r));
    assert.equal(await Deno.readTextFile(join(inner, "legit")), "legit\n");
    // Whatever the shell says about the other writes, none reached the host.
    assert.equal(await Deno.readTextFile(victim), "original\n", show(r));
    assert.deepEqual(
      (await snapshotTree(parent)).filter((l) => !l.startsWith("inner")),
      parentBefore,
      `the bind's parent on the host changed:\n${show(r)}`,
    );
    assert.ok(!exists(join(home, homeName)), `a file appeared in ${home}:\n${show(r)}`);
    assert.deepEqual(await snapshotTree(rootfs), rootfsBefore, "the rootfs changed");
    assert.ok(!exists(join(parent, "escaped")));
  } finally {
    await Deno.remove(parent, { recursive: true });
    await Deno.remove(join(home, homeName)).catch(() => {});
  }
});

test("host files that are not bound cannot be read: a secret in the home, /etc/shadow", async () => {
  const home = homedir();
  const secretName = randomMarker("secret");
  const secret = join(home, secretName);
  const content = randomMarker("content");
  await Deno.writeTextFile(secret, `${content}\n`, { mode: 0o600 });
  try {
    // The invoking user can read it: root inside is that user, so only its
    // absence from the sandbox protects it.
    assert.equal(await Deno.readTextFile(secret), `${content}\n`);
    const r = await attack([
      `cat ${secret}; echo home-secret=$?`,
      `cat /proc/1/root${secret}; echo through-init-root=$?`,
      `cat /proc/self/root/../..${secret}; echo through-self-root=$?`,
      "cat /etc/shadow; echo shadow=$?",
      "cat /etc/gshadow; echo gshadow=$?",
      `ls ${home}; echo home-dir=$?`,
      // Everything the sandbox can see, searched by name and by content.
      `find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -name '${secretName}' -print`,
      `find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -type f -print | ` +
      `xargs grep -l '${content}' 2>/dev/null; echo searched=done`,
      "exit 0",
    ].join("\n"));
    assert.equal(r.code, 0, show(r));
    for (const key of ["home-secret", "through-init-root", "through-self-root", "shadow"]) {
      assertRefused(r, key);
    }
    assertRefused(r, "home-dir");
    assert.equal(value(r, "searched"), "done", show(r));
    assert.ok(!r.stdout.includes(content), `the secret's content leaked:\n${show(r)}`);
    assert.ok(!r.stdout.includes(secretName), `the secret's name showed up:\n${show(r)}`);
  } finally {
    await Deno.remove(secret);
  }
});

test("the nsbuild store (NSBUILD_HOME, the run's own directory) cannot be read from inside", async () => {
  const content = randomMarker("store-content");
  const script = [
    "read store",
    'ls -la "$store"; echo store-dir=$?',
    'cat "$store/adv-secret"; echo store-secret=$?',
    'ls "$store/runs"; echo runs-dir=$?',
    // Init is a copy of nsbuild: its environment names the store.
    "cat /proc/1/environ > /tmp/environ; echo init-environ=$?; tr '\\0' '\\n' < /tmp/environ",
    "cat /proc/1/cmdline | tr '\\0' ' '; echo",
    `find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -type f -print | ` +
    `xargs grep -l '${content}' 2>/dev/null; echo searched=done`,
    "exit 0",
  ].join("\n");
  const running = new RunningNsbuild(
    ["run", "--rootfs", await busyboxRootfs(), "--", ...sh(script)],
    { stdin: "piped" },
  );
  try {
    await Deno.writeTextFile(join(running.home, "adv-secret"), `${content}\n`);
    await running.write(`${running.home}\n`);
    await running.closeStdin();
    const r = await running.finish();
    assert.equal(r.code, 0, show(r));
    assertRefused(r, "store-dir");
    assertRefused(r, "store-secret");
    assertRefused(r, "runs-dir");
    assertRefused(r, "init-environ");
    assert.equal(value(r, "searched"), "done", show(r));
    assert.ok(!r.stdout.includes(content), `the store's content leaked:\n${show(r)}`);
    assert.ok(!r.stdout.includes("NSBUILD_HOME"), `init's environment leaked:\n${show(r)}`);
  } finally {
    await running.abort();
  }
});

test("a read-only bind cannot be remounted read-write: the host file stays unchanged", async () => {
  const dir = await tempDir("ro-remount");
  try {
    await Deno.writeTextFile(join(dir, "file"), "original\n");
    const before = await snapshotTree(dir);
    const r = await attack(
      [
        "mount -o remount,rw,bind /src; echo remount-bind=$?",
        "mount -o remount,rw /src; echo remount=$?",
        "mkdir /tmp/again && mount --bind /src /tmp/again; echo rebind=$?",
        "mount -o remount,rw,bind /tmp/again; echo remount-again=$?",
        "mkdir /tmp/moved && mount --move /src /tmp/moved; echo move=$?",
        "umount /src; echo umount=$?",
        "echo pwned > /src/file; echo write=$?",
        "echo pwned > /tmp/again/file; echo write-again=$?",
        "echo pwned > /tmp/moved/file; echo write-moved=$?",
        "touch /src/new; echo create=$?",
        "grep ' /src ' /proc/self/mountinfo",
        "exit 0",
      ].join("\n"),
      ["--ro-bind", `${dir}:/src`],
    );
    assert.equal(r.code, 0, show(r));
    assert.equal(await Deno.readTextFile(join(dir, "file")), "original\n", show(r));
    assert.deepEqual(await snapshotTree(dir), before, `the host directory changed:\n${show(r)}`);
    for (const key of ["write", "create"]) assertRefused(r, key);
    // The remounts themselves are what must fail: a build that can lift
    // read-only from one bind can lift it from any.
    for (const key of ["remount-bind", "remount", "remount-again"]) assertRefused(r, key);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a masked /proc entry cannot be unmasked: umount, a second proc, a bind of /proc, an overmount", async () => {
  // The masks the planner asks for that this kernel has (the others are skipped).
  const masked = PROC_MASKED.filter((name) => exists(`/proc/${name}`));
  assert.ok(masked.length > 0, `none of ${PROC_MASKED.join(", ")} exists in /proc here`);
  // What each path is: a mask is /dev/null, a character device.
  const kinds = (dir: string, tag: string) =>
    masked.map((n) => `echo "${tag} ${n}=$(stat -c %F ${dir}/${n} 2>&1) $(wc -c < ${dir}/${n})"`)
      .join("\n");
  const r = await attack([
    kinds("/proc", "before"),
    ...masked.map((n) => `umount /proc/${n}; echo umount-${n}=$?`),
    ...masked.map((n) => `umount -l /proc/${n}; echo umount-lazy-${n}=$?`),
    kinds("/proc", "after-umount"),
    "mkdir -p /tmp/newproc && mount -t proc proc /tmp/newproc; echo new-proc=$?",
    kinds("/tmp/newproc", "new-proc"),
    "mkdir -p /tmp/bound && mount --bind /proc /tmp/bound; echo bind-proc=$?",
    kinds("/tmp/bound", "bind-proc"),
    "mount -t proc proc /proc; echo overmount=$?",
    kinds("/proc", "overmount"),
    "exit 0",
  ].join("\n"));
  assert.equal(r.code, 0, show(r));
  for (const name of masked) {
    assert.match(value(r, `before ${name}`), /^character special file 0$/, show(r));
    assertRefused(r, `umount-${name}`);
    assertRefused(r, `umount-lazy-${name}`);
    for (const where of ["after-umount", "new-proc", "bind-proc", "overmount"]) {
      // Still the mask, or not there at all (the mount was refused).
      assert.match(
        value(r, `${where} ${name}`),
        /^(character special file 0|.*No such file or directory.*)$/,
        `/proc/${name} was unmasked (${where}):\n${show(r)}`,
      );
    }
  }
  for (const key of ["new-proc", "bind-proc", "overmount"]) assertRefused(r, key);
});

test("/proc/sys and /proc/sysrq-trigger cannot be written, even after a remount", async () => {
  const hostname = Deno.hostname();
  const r = await attack([
    "echo attacker > /proc/sys/kernel/hostname; echo hostname=$?",
    // Opened for writing only, never written: the open is the refusal.
    `${ATTACKS}/probe_open w /proc/sys/vm/drop_caches /proc/sysrq-trigger`,
    "mount -o remount,rw,bind /proc/sys; echo remount-bind=$?",
    "mount -o remount,rw /proc/sys; echo remount=$?",
    "umount /proc/sys; echo umount=$?",
    "echo attacker > /proc/sys/kernel/hostname; echo hostname-again=$?",
    `${ATTACKS}/probe_open w /proc/sys/vm/drop_caches /proc/sysrq-trigger`,
    'echo "name=$(hostname)"',
    "exit 0",
  ].join("\n"));
  assert.equal(r.code, 0, show(r));
  assertRefused(r, "hostname");
  assertRefused(r, "hostname-again");
  for (const key of ["remount-bind", "remount", "umount"]) assertRefused(r, key);
  const opens = r.stdout.split("\n").filter((l) => / w: /.test(l));
  assert.equal(opens.length, 4, show(r));
  for (const line of opens) assert.match(line, / w: E[A-Z]+$/, `${line}\n${show(r)}`);
  assert.equal(value(r, "name"), "nsbuild", "the sandbox's hostname changed");
  assert.equal(Deno.hostname(), hostname, "the host's hostname changed");
});

// ---------------------------------------------------------------------------
// Processes

test("a host process is invisible inside and cannot be signalled by its pid", async () => {
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b % 10).join("");
  const marker = `300.${digits}`;
  const sleeper = new Deno.Command("sleep", { args: [marker], stdin: "null" }).spawn();
  try {
    assert.ok(isAlive(sleeper.pid));
    const pid = sleeper.pid;
    const r = await attack([
      `ls -d /proc/${pid}; echo proc-entry=$?`,
      // Assembled in the shell: the script's own command line must not match.
      `m=300.; m=\${m}${digits}; echo "looking-for=$m"; grep -lF "$m" /proc/[0-9]*/cmdline; echo found-marker=$?`,
      "ps -o pid,args",
      `kill -9 ${pid}; echo kill=$?`,
      // A broadcast to every process the caller may signal: none but itself here.
      "kill -0 -1; echo broadcast=$?",
      `${ATTACKS}/ptrace ${pid}`,
      "exit 0",
    ].join("\n"));
    assert.equal(r.code, 0, show(r));
    assert.equal(value(r, "looking-for"), marker, show(r));
    assertRefused(r, "proc-entry");
    assertRefused(r, "found-marker");
    assertRefused(r, "kill");
    assertRefused(r, "broadcast");
    const seen = r.stdout.split("\n").filter((l) => !l.startsWith("looking-for="));
    assert.ok(!seen.join("\n").includes(marker), `the host process showed up:\n${show(r)}`);
    for (const what of ["PTRACE_ATTACH", "PTRACE_SEIZE", "open /proc/PID/mem"]) {
      assertProbeRefused(r, what);
    }
    assert.ok(isAlive(pid), `the host process died:\n${show(r)}`);
    assert.equal(processesWithArg(marker).length, 1);
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

test("the sandbox's init (pid 1) cannot be ptraced or its memory read", async () => {
  const r = await attack(`${ATTACKS}/ptrace 1; ${ATTACKS}/ptrace child | sed 's/^/child /'`);
  assert.equal(r.code, 0, show(r));
  for (const what of ["PTRACE_ATTACH", "PTRACE_SEIZE", "open /proc/PID/mem", "process_vm_readv"]) {
    assertProbeRefused(r, what);
  }
  // Not a blanket refusal that would hide a hole: the command's own child
  // can be traced, so it is init itself that is out of reach.
  assert.match(r.stdout, /^child PTRACE_ATTACH: ok$/m, show(r));
});

test("a setuid-root copy of a program gains nothing for a non-root uid (no_new_privs)", async () => {
  const ids = `${ATTACKS}/ids`;
  const asUser = `${ids} as 1000`;
  const r = await attack([
    // On the overlay root, which is not mounted nosuid.
    `cp ${ids} /suid-ids && chown 0:0 /suid-ids && chmod 4755 /suid-ids; echo armed=$?`,
    "stat -c 'mode=%a owner=%u' /suid-ids",
    `awk '$5 == "/" { print "root-options=" $6 }' /proc/self/mountinfo`,
    `echo "root $(${ids})"`,
    `echo "before $(${asUser} ${ids})"`,
    `echo "after $(${asUser} /suid-ids)"`,
    "exit 0",
  ].join("\n"));
  assert.equal(r.code, 0, show(r));
  // The attack is armed: a setuid-root file on a mount that honours setuid.
  assert.equal(value(r, "armed"), "0", show(r));
  assert.match(r.stdout, /^mode=4755 owner=0$/m, show(r));
  assert.doesNotMatch(value(r, "root-options"), /nosuid/, show(r));
  const before = value(r, "before uid");
  const after = value(r, "after uid");
  // The setuid bit raised nothing: not the uids, not the capabilities.
  assert.match(after, /^1000\/1000\/1000 /, `the setuid bit took effect:\n${show(r)}`);
  assert.match(after, / CapPrm=0000000000000000 CapEff=0000000000000000 /, show(r));
  assert.match(before, /^1000\/1000\/1000 .* CapEff=0000000000000000 /, show(r));
  assert.match(after, /NoNewPrivs=1$/, show(r));
});

test("a nested user namespace cannot be created: unshare -U, unshare(2), clone(2), clone3(2)", async () => {
  const r = await attack([
    "unshare -U -r id; echo busybox-unshare=$?",
    `${ATTACKS}/userns`,
    "exit 0",
  ].join("\n"));
  assert.equal(r.code, 0, show(r));
  assertRefused(r, "busybox-unshare");
  for (const call of ["unshare(CLONE_NEWUSER)", "clone(CLONE_NEWUSER)", "clone3(CLONE_NEWUSER)"]) {
    assertProbeRefused(r, call);
  }
});

test("nsbuild's binaries cannot be opened through /proc/1/exe (CVE-2019-5736) and stay unchanged", async () => {
  const executor = Deno.env.get("NSBUILD_EXECUTOR") ??
    new URL("../ffi/build/libnsbuild_executor.so", import.meta.url).pathname;
  const deno = await Deno.realPath(new URL("../node_modules/.bin/deno", import.meta.url).pathname);
  const bundle = new URL("../dist/cli/main.js", import.meta.url).pathname;
  const binaries = [deno, executor, NSBUILD_BIN, ...(exists(bundle) ? [bundle] : [])];
  const rootfsBusybox = join(await busyboxRootfs(), "bin", "busybox");
  const before = await Promise.all([...binaries, rootfsBusybox].map(fingerprint));
  const probe = `${ATTACKS}/probe_open`;
  const r = await attack([
    "readlink /proc/1/exe; echo readlink-exe=$?",
    `${probe} w /proc/1/exe`,
    `${probe} rw /proc/1/exe`,
    `${probe} r /proc/1/exe /proc/1/maps /proc/1/mem /proc/1/environ`,
    "ls /proc/1/map_files; echo map-files=$?",
    "ls /proc/1/fd; echo init-fds=$?",
    // The command's own executable, busybox of the rootfs.
    `${probe} w /proc/$$/exe`,
    "exit 0",
  ].join("\n"));
  assert.equal(r.code, 0, show(r));
  assertRefused(r, "readlink-exe");
  for (
    const what of [
      "/proc/1/exe w",
      "/proc/1/exe rw",
      "/proc/1/exe r",
      "/proc/1/maps r",
      "/proc/1/mem r",
      "/proc/1/environ r",
    ]
  ) {
    assertProbeRefused(r, what);
  }
  assertRefused(r, "map-files");
  assertRefused(r, "init-fds");
  assert.match(r.stdout, /^\/proc\/\d+\/exe w: E[A-Z]+$/m, `the shell's exe opened:\n${show(r)}`);
  const after = await Promise.all([...binaries, rootfsBusybox].map(fingerprint));
  assert.deepEqual(after, before, "a host binary changed");
});

test("descriptors the invoker holds beyond 0-2 do not reach the command (CVE-2024-21626)", async () => {
  const dir = await tempDir("fds");
  const secret = join(dir, "secret");
  const log = join(dir, "log");
  try {
    await Deno.writeTextFile(secret, "secret\n");
    await Deno.writeTextFile(log, "");
    // Opened by the shell that starts nsbuild, without close-on-exec: a
    // file to read, a file to write, a host directory, a pipe.
    const setup = `exec 6< <(echo pipe-data) 7<'${secret}' 8>>'${log}' 9<'${dir}'`;
    const running = new NsbuildFromShell(setup, [
      "run",
      "--rootfs",
      await busyboxRootfs(),
      ...await attackBind(),
      "--",
      ...sh([
        `${ATTACKS}/fds`,
        "ls /proc/$$/fd | tr '\\n' ' '; echo",
        "echo pwned >&8; echo write-fd8=$?",
        "cat <&7; echo read-fd7=$?",
        "ls /proc/self/fd/9/; echo dir-fd9=$?",
        "echo ready",
        "read line",
        "exit 0",
      ].join("\n")),
    ]);
    try {
      assert.ok(await running.waitForStdout("ready"), `${running.stdout}\n${running.stderr}`);
      // The control: nsbuild itself holds them all, so they were there to leak.
      const held = [7, 8, 9, 6].map((fd) => {
        try {
          return Deno.readLinkSync(`/proc/${running.pid}/fd/${fd}`);
        } catch {
          return "";
        }
      });
      assert.deepEqual(held.slice(0, 3), [secret, log, dir], "nsbuild did not inherit the fds");
      assert.match(held[3]!, /^pipe:/);
    } finally {
      const r = await running.finish();
      assert.equal(r.code, 0, show(r));
      const fds = r.stdout.split("\n").filter((l) => l.startsWith("fd "));
      assert.deepEqual(fds.map((l) => l.split(" ")[1]), ["0", "1", "2"], show(r));
      assert.equal(value(r, "count"), "3", show(r));
      assert.ok(!r.stdout.includes(dir), `a host path shows through a descriptor:\n${show(r)}`);
      assertRefused(r, "write-fd8");
      assertRefused(r, "read-fd7");
      assertRefused(r, "dir-fd9");
      assert.equal(await Deno.readTextFile(log), "", "the host file was written through fd 8");
    }
    // The working directory through a leaked descriptor (runc's own case).
    const cwd = new NsbuildFromShell(setup, [
      "run",
      "--rootfs",
      await busyboxRootfs(),
      "--cwd",
      "/proc/self/fd/9",
      "--",
      "/bin/sh",
      "-c",
      "pwd; ls",
    ]);
    const r = await cwd.finish();
    assert.ok(
      !r.stdout.includes("secret"),
      `the command started in the host directory:\n${show(r)}`,
    );
    assert.equal(r.code, 125, show(r));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// The network

test("a server on the host's loopback cannot be reached without --net", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })();
  try {
    const connect = `echo hello | nc -w 2 127.0.0.1 ${port}; echo connect=$?`;
    const r = await attack(connect);
    assert.equal(r.code, 0, show(r));
    assertRefused(r, "connect");
    assert.match(r.stderr, /refused/i, show(r));
    assert.equal(accepted, 0, `the host's server got a connection:\n${show(r)}`);
    // The control: with --net the same connection reaches the server.
    const control = await attack(connect, ["--net"]);
    assert.equal(value(control, "connect"), "0", show(control));
    assert.ok(accepted > 0, "the control did not reach the server");
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

test("another concurrent sandbox's abstract unix socket cannot be reached", async () => {
  const name = randomMarker("abstract");
  const bind = await attackBind();
  const rootfs = await busyboxRootfs();
  const pair = async (flags: string[]) => {
    const listening = new RunningNsbuild(
      ["run", "--rootfs", rootfs, ...bind, ...flags, "--", `${ATTACKS}/absock`, "listen", name],
      { stdin: "piped" },
    );
    try {
      await listening.waitForStdout("listening");
      const other = await runIn([...bind, ...flags], [`${ATTACKS}/absock`, "connect", name]);
      await listening.closeStdin();
      return { listener: await listening.finish(), other };
    } finally {
      await listening.abort();
    }
  };
  const { listener, other } = await pair([]);
  assert.equal(listener.code, 0, show(listener));
  // The control inside the listening sandbox: its socket works.
  assert.match(listener.stdout, /^self-connect: ok$/m, show(listener));
  assertProbeRefused(other, "connect");
  assert.match(listener.stdout, /^accepted 0$/m, show(listener));
  // The control: two sandboxes sharing the host's network (--net) do reach each other.
  const shared = await pair(["--net"]);
  assert.match(shared.other.stdout, /^connect: ok$/m, show(shared.other));
  assert.match(shared.listener.stdout, /^accepted 1$/m, show(shared.listener));
});

// ---------------------------------------------------------------------------
// The invoking terminal

/** Whether an unprivileged TIOCSTI works at all on this kernel (6.2+ can turn it off). */
function tiocstiAllowed(): boolean {
  try {
    return Deno.readTextFileSync("/proc/sys/dev/tty/legacy_tiocsti").trim() !== "0";
  } catch {
    return true;
  }
}

for (const mode of ["out", "all"] as const) {
  const where = mode === "out"
    ? "stdout and stderr (stdin not a terminal: no pty of its own)"
    : "stdin, stdout and stderr (the command gets a pty of its own)";
  test(`TIOCSTI cannot push input into a pty the invoker holds as nsbuild's ${where}`, async () => {
    const text = randomMarker("typed");
    // The control: a process outside any sandbox on the same kind of pty
    // does push the text in (making the pty its controlling terminal first),
    // so the check below would see it.
    if (tiocstiAllowed()) {
      const control = await onHeldPty(mode, [await hostAttack("tiocsti"), text]);
      assert.match(control.output, /injected/, control.output);
      assert.ok(control.input.includes(text), `the control did not inject:\n${control.output}`);
    }
    const r = await onHeldPty(mode, [
      "run",
      "--rootfs",
      await busyboxRootfs(),
      ...await attackBind(),
      "--",
      `${ATTACKS}/tiocsti`,
      text,
    ], { nsbuild: true });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.input, "", `text reached the held terminal's input:\n${r.output}`);
    // Inside: every terminal outside the sandbox's own devpts refused the
    // text. (With a pty of its own, /dev/tty is that pty.)
    const tries = r.output.split("\n").filter((l) =>
      /^(fd \d+|\/dev\/tty|\/proc\/1\/fd\/\d)[ :]/.test(l)
    );
    assert.ok(tries.length >= 6, r.output);
    for (const line of tries) {
      if (line.includes("[this-devpts]") || (mode === "all" && line.startsWith("/dev/tty"))) {
        continue;
      }
      assert.doesNotMatch(line, /injected/, `${line}\n${r.output}`);
    }
    if (mode === "out") {
      // Non-terminal mode: fds 1 and 2 are the held pty itself.
      assert.match(r.output, /^fd 1 \[other\]: E[A-Z]+ /m, r.output);
      assert.match(r.output, /^fd 2 \[other\]: E[A-Z]+ /m, r.output);
    }
    for (const fd of [0, 1, 2]) {
      assert.match(r.output, new RegExp(`^/proc/1/fd/${fd}: open E[A-Z]+$`, "m"), r.output);
    }
  });
}

// Keeps the compiled programs' directory referenced so a failed compile shows up early.
test("the attack programs compile (gcc -static) and run inside the sandbox", async () => {
  const dir = await attackDir();
  for (const name of ["absock", "fds", "ids", "probe_open", "ptrace", "tiocsti", "userns"]) {
    assert.ok(exists(join(dir, name)), `${name} was not built`);
  }
  const r = await attack(`${ATTACKS}/ids`);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^uid=0\/0\/0 gid=0\/0\/0 /, show(r));
});
