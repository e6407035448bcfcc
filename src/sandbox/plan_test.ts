import assert from "node:assert/strict";
import { CLONE, MS, type Op, type Plan } from "./ops.ts";
import {
  DEV_NODES,
  execCandidates,
  PlanError,
  planSandbox,
  PROC_MASKED,
  PROC_READONLY,
} from "./plan.ts";
import { DEFAULT_PATH, type SandboxSpec } from "./spec.ts";
import { keptCapabilityMask } from "./capabilities.ts";

const RUN = "/var/cache/nsbuild/runs/42-abc";

/** One BPF instruction, "return ALLOW": a filter the kernel would take. */
const ALLOW_ALL = new Uint8Array([0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f]);

function spec(overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    rootfs: "/store/bases/debian",
    runDir: RUN,
    binds: [
      { source: "/home/u/src", target: "/src", readonly: true, directory: true },
      { source: "/home/u/out", target: "/out", readonly: false, directory: true },
      { source: "/etc/resolv.conf", target: "/etc/resolv.conf", readonly: true, directory: false },
    ],
    tmpfs: ["/var/tmp", "/run"],
    network: false,
    hostname: "nsbuild",
    env: { PATH: "/usr/bin:/bin", HOME: "/root" },
    cwd: "/src",
    argv: ["make", "-j4"],
    ttyGroupMapped: true,
    usernsFd: -1,
    seccompProgram: ALLOW_ALL,
    ...overrides,
  };
}

function indexWhere(ops: Op[], pred: (op: Op) => boolean): number {
  const i = ops.findIndex(pred);
  assert.notEqual(i, -1, "expected an op matching the predicate");
  return i;
}

function indexesWhere(ops: Op[], pred: (op: Op) => boolean): number[] {
  return ops.flatMap((op, i) => pred(op) ? [i] : []);
}

function pivotIndex(plan: Plan): number {
  return indexWhere(plan.ops, (op) => op.op === "pivot-root");
}

function mountAt(plan: Plan, target: string): Extract<Op, { op: "mount" }> {
  const found = plan.ops.filter((op): op is Extract<Op, { op: "mount" }> =>
    op.op === "mount" && op.target === target
  );
  assert.equal(found.length, 1, `exactly one mount on ${target}`);
  return found[0]!;
}

function mountIndex(plan: Plan, target: string): number {
  return indexWhere(plan.ops, (op) => op.op === "mount" && op.target === target);
}

Deno.test("planSandbox() starts with remove-on-exit of the run directory", () => {
  const plan = planSandbox(spec());
  assert.deepEqual(plan.ops[0], { op: "remove-on-exit", path: RUN });
  assert.equal(plan.ops.filter((op) => op.op === "remove-on-exit").length, 1);
});

Deno.test("planSandbox() makes / private recursively before mounting the overlay", () => {
  const plan = planSandbox(spec());
  assert.deepEqual(plan.ops[1], {
    op: "mount",
    source: "",
    target: "/",
    fstype: "",
    data: "",
    flags: MS.REC | MS.PRIVATE,
  });
  const overlay = indexWhere(plan.ops, (op) => op.op === "mount" && op.fstype === "overlay");
  assert.ok(overlay > 1, `overlay at ${overlay}`);
});

Deno.test("planSandbox() creates upper, work and root in the run directory before the overlay", () => {
  const plan = planSandbox(spec());
  const overlay = mountIndex(plan, `${RUN}/root`);
  for (const sub of ["upper", "work", "root"]) {
    const mkdir = indexWhere(
      plan.ops,
      (op) => op.op === "mkdir-p" && op.path === `${RUN}/${sub}`,
    );
    assert.ok(1 < mkdir && mkdir < overlay, `${sub} at ${mkdir}, overlay at ${overlay}`);
  }
});

Deno.test("planSandbox() mounts the overlay on RUN/root with lower, upper, work and userxattr", () => {
  const plan = planSandbox(spec());
  const overlay = mountAt(plan, `${RUN}/root`);
  assert.equal(overlay.source, "overlay");
  assert.equal(overlay.fstype, "overlay");
  assert.equal(
    overlay.data,
    `lowerdir=/store/bases/debian,upperdir=${RUN}/upper,workdir=${RUN}/work,userxattr`,
  );
  assert.equal(overlay.flags, MS.NODEV);
});

Deno.test("planSandbox() pivots into RUN/root", () => {
  const plan = planSandbox(spec());
  assert.deepEqual(plan.ops[pivotIndex(plan)], { op: "pivot-root", newRoot: `${RUN}/root` });
  assert.equal(plan.ops.filter((op) => op.op === "pivot-root").length, 1);
});

Deno.test("planSandbox() mounts /proc and clones every tree before pivot_root", () => {
  const plan = planSandbox(spec());
  const pivot = pivotIndex(plan);
  const overlay = mountIndex(plan, `${RUN}/root`);
  const proc = indexWhere(plan.ops, (op) => op.op === "proc-mount");
  assert.ok(proc > overlay && proc < pivot, `proc-mount at ${proc}, pivot at ${pivot}`);
  const clones = indexesWhere(plan.ops, (op) => op.op === "tree-clone");
  assert.equal(clones.length, DEV_NODES.length + 3);
  for (const i of clones) assert.ok(i > overlay && i < pivot, `tree-clone at ${i}`);
});

Deno.test("planSandbox() mounts /proc after pivot_root, from the proc-mount slot", () => {
  const plan = planSandbox(spec());
  const pivot = pivotIndex(plan);
  const proc = plan.ops.find((op) => op.op === "proc-mount");
  assert.ok(proc?.op === "proc-mount");
  const mkdir = indexWhere(plan.ops, (op) => op.op === "mkdir-p" && op.path === "/proc");
  const move = indexWhere(plan.ops, (op) => op.op === "move-mount" && op.target === "/proc");
  assert.ok(pivot < mkdir && mkdir < move);
  assert.deepEqual(plan.ops[move], { op: "move-mount", slot: proc.slot, target: "/proc" });
});

Deno.test("planSandbox() creates every mount point and moves every mount after pivot_root", () => {
  const plan = planSandbox(spec());
  const pivot = pivotIndex(plan);
  const after = indexesWhere(
    plan.ops,
    (op) =>
      ((op.op === "mkdir-p" || op.op === "mkfile-p") && !op.path.startsWith(`${RUN}/`)) ||
      op.op === "move-mount" || op.op === "symlink" || op.op === "mask-file" ||
      op.op === "readonly",
  );
  assert.ok(after.length > 0);
  for (const i of after) assert.ok(i > pivot, `${plan.ops[i]!.op} at ${i} before pivot ${pivot}`);
  // Before pivot_root, only the run directory's own parts are created.
  const before = plan.ops.slice(0, pivot).flatMap((op) =>
    op.op === "mkdir-p" || op.op === "mkfile-p" ? [op.path] : []
  );
  assert.deepEqual(before, [`${RUN}/upper`, `${RUN}/work`, `${RUN}/root`]);
});

Deno.test("planSandbox() binds each source's slot onto its target after pivot_root", () => {
  const s = spec();
  const plan = planSandbox(s);
  const pivot = pivotIndex(plan);
  for (const bind of s.binds) {
    const clone = plan.ops.find((op) => op.op === "tree-clone" && op.source === bind.source);
    assert.ok(clone?.op === "tree-clone", `a clone of ${bind.source}`);
    const point = indexWhere(
      plan.ops,
      (op) => (op.op === "mkdir-p" || op.op === "mkfile-p") && op.path === bind.target,
    );
    const move = indexWhere(
      plan.ops,
      (op) => op.op === "move-mount" && op.target === bind.target,
    );
    assert.ok(pivot < point && point < move);
    assert.equal((plan.ops[move] as Extract<Op, { op: "move-mount" }>).slot, clone.slot);
    assert.equal(plan.ops[point]!.op, bind.directory ? "mkdir-p" : "mkfile-p");
  }
});

Deno.test("planSandbox() gives every tree-clone and the proc-mount a distinct slot", () => {
  const plan = planSandbox(spec());
  const slots = plan.ops.flatMap((op) =>
    op.op === "tree-clone" || op.op === "proc-mount" ? [op.slot] : []
  );
  assert.equal(new Set(slots).size, slots.length);
  assert.equal(slots.length, 1 + DEV_NODES.length + 3);
  const moved = plan.ops.flatMap((op) => op.op === "move-mount" ? [op.slot] : []).sort((a, b) =>
    a - b
  );
  assert.deepEqual(moved, [...slots].sort((a, b) => a - b));
});

Deno.test("planSandbox() mounts readonly binds readonly and every bind nosuid,nodev, recursive", () => {
  const plan = planSandbox(spec());
  const src = plan.ops.find((op) => op.op === "tree-clone" && op.source === "/home/u/src");
  const out = plan.ops.find((op) => op.op === "tree-clone" && op.source === "/home/u/out");
  assert.ok(src?.op === "tree-clone" && out?.op === "tree-clone");
  assert.equal(src.readonly, true);
  assert.equal(src.nosuidNodev, true);
  assert.equal(src.recursive, true);
  assert.equal(out.readonly, false);
  assert.equal(out.nosuidNodev, true);
  assert.equal(out.recursive, true);
});

Deno.test("planSandbox() clones host device nodes non-recursively and writable", () => {
  const plan = planSandbox(spec());
  for (const name of DEV_NODES) {
    const clone = plan.ops.find((op) => op.op === "tree-clone" && op.source === `/dev/${name}`);
    assert.ok(clone?.op === "tree-clone", `a clone of /dev/${name}`);
    assert.equal(clone.recursive, false);
    assert.equal(clone.readonly, false);
  }
});

Deno.test("planSandbox() mounts the /dev tmpfs before binding device nodes into it", () => {
  const plan = planSandbox(spec());
  const dev = mountIndex(plan, "/dev");
  const devMount = mountAt(plan, "/dev");
  assert.equal(devMount.fstype, "tmpfs");
  assert.equal(devMount.flags, MS.NOSUID | MS.NOEXEC);
  assert.ok(dev > pivotIndex(plan));
  for (const name of DEV_NODES) {
    const file = indexWhere(plan.ops, (op) => op.op === "mkfile-p" && op.path === `/dev/${name}`);
    const move = indexWhere(
      plan.ops,
      (op) => op.op === "move-mount" && op.target === `/dev/${name}`,
    );
    assert.ok(dev < file && file < move, `/dev/${name}: tmpfs ${dev}, file ${file}, move ${move}`);
  }
  for (const target of ["/dev/pts", "/dev/shm"]) {
    assert.ok(mountIndex(plan, target) > dev, `${target} after the /dev tmpfs`);
  }
  const ptmx = indexWhere(plan.ops, (op) => op.op === "symlink" && op.path === "/dev/ptmx");
  assert.ok(ptmx > mountIndex(plan, "/dev/pts"));
});

Deno.test("planSandbox() links /dev/fd and the standard streams to /proc/self/fd", () => {
  const plan = planSandbox(spec());
  const links = Object.fromEntries(
    plan.ops.flatMap((op) => op.op === "symlink" ? [[op.path, op.target]] : []),
  );
  assert.deepEqual(links, {
    "/dev/fd": "/proc/self/fd",
    "/dev/stdin": "/proc/self/fd/0",
    "/dev/stdout": "/proc/self/fd/1",
    "/dev/stderr": "/proc/self/fd/2",
    "/dev/ptmx": "pts/ptmx",
  });
});

Deno.test("planSandbox() masks and write-protects /proc entries after /proc is mounted", () => {
  const plan = planSandbox(spec());
  const proc = indexWhere(plan.ops, (op) => op.op === "move-mount" && op.target === "/proc");
  const masks = plan.ops.flatMap((op, i) => op.op === "mask-file" ? [[i, op] as const] : []);
  assert.deepEqual(
    masks.map(([, op]) => op),
    PROC_MASKED.map((name) => ({ op: "mask-file", path: `/proc/${name}`, optional: true })),
  );
  assert.ok(masks.some(([, op]) => op.path === "/proc/sysrq-trigger"));
  for (const [i] of masks) assert.ok(i > proc);
  const ro = plan.ops.flatMap((op, i) => op.op === "readonly" ? [[i, op] as const] : []);
  assert.deepEqual(
    ro.map(([, op]) => op),
    PROC_READONLY.map((name) => ({ op: "readonly", path: `/proc/${name}`, optional: true })),
  );
  for (const [i] of ro) assert.ok(i > proc);
});

Deno.test("planSandbox() puts exec last, with PATH candidates, argv and env", () => {
  const plan = planSandbox(spec());
  const last = plan.ops[plan.ops.length - 1];
  assert.deepEqual(last, {
    op: "exec",
    candidates: ["/usr/bin/make", "/bin/make"],
    argv: ["make", "-j4"],
    env: ["PATH=/usr/bin:/bin", "HOME=/root"],
  });
  assert.equal(plan.ops.filter((op) => op.op === "exec").length, 1);
});

Deno.test("planSandbox() sets hostname, domain name, chdir and umask 022 before exec", () => {
  const plan = planSandbox(spec({ hostname: "box" }));
  const n = plan.ops.length;
  assert.deepEqual(plan.ops.slice(n - 8, n - 3), [
    { op: "hostname", name: "box" },
    { op: "domainname", name: "(none)" },
    { op: "loopback-up" },
    { op: "chdir", path: "/src" },
    { op: "umask", mask: 0o022 },
  ]);
});

Deno.test("planSandbox() drops capabilities, then installs the filter, right before exec", () => {
  const plan = planSandbox(spec());
  const n = plan.ops.length;
  assert.deepEqual(plan.ops.slice(n - 3, n - 1), [
    { op: "drop-caps", keep: keptCapabilityMask() },
    { op: "seccomp", program: ALLOW_ALL },
  ]);
  const keep = keptCapabilityMask();
  assert.equal(keep & (1n << 21n), 0n, "CAP_SYS_ADMIN is dropped");
  assert.equal(keep & (1n << 19n), 0n, "CAP_SYS_PTRACE is dropped");
  assert.notEqual(keep & 1n, 0n, "CAP_CHOWN is kept");
});

Deno.test("planSandbox() with seccomp off plans no filter, and refuses a missing one", () => {
  const off = planSandbox(spec({ seccomp: "off", seccompProgram: undefined }));
  assert.equal(off.ops.some((op) => op.op === "seccomp"), false);
  assert.throws(() => planSandbox(spec({ seccompProgram: undefined })), /seccomp filter/);
});

Deno.test("planSandbox() gives a time namespace only for a clock offset", () => {
  assert.equal(planSandbox(spec()).ops.some((op) => op.op === "time-offset"), false);
  const shifted = planSandbox(spec({ clockOffsetSeconds: 86400 }));
  assert.deepEqual(shifted.ops.filter((op) => op.op === "time-offset"), [
    { op: "time-offset", seconds: 86400 },
  ]);
});

Deno.test("planSandbox() without --net creates a network namespace and brings lo up", () => {
  const plan = planSandbox(spec({ network: false }));
  assert.equal(
    plan.namespaces,
    CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWCGROUP | CLONE.NEWNET,
  );
  assert.equal(plan.ops.filter((op) => op.op === "loopback-up").length, 1);
});

Deno.test("planSandbox() with --net keeps the host network: no CLONE_NEWNET, no loopback-up", () => {
  const plan = planSandbox(spec({ network: true }));
  assert.equal(plan.namespaces & CLONE.NEWNET, 0);
  assert.equal(
    plan.namespaces,
    CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWCGROUP,
  );
  assert.equal(plan.ops.some((op) => op.op === "loopback-up"), false);
});

Deno.test("planSandbox() never asks for CLONE_NEWUSER in the namespace flags", () => {
  assert.equal(planSandbox(spec()).namespaces & CLONE.NEWUSER, 0);
});

Deno.test("planSandbox() sets no_new_privs, a new session and passes usernsFd through", () => {
  const plan = planSandbox(spec({ usernsFd: 7 }));
  assert.equal(plan.noNewPrivs, true);
  assert.equal(plan.newSession, true);
  assert.equal(plan.usernsFd, 7);
  assert.equal(planSandbox(spec()).usernsFd, -1);
});

Deno.test("planSandbox() asks for a terminal only when the spec does", () => {
  assert.equal(planSandbox(spec()).terminal, false);
  assert.equal(planSandbox(spec({ terminal: false })).terminal, false);
  const plan = planSandbox(spec({ terminal: true }));
  assert.equal(plan.terminal, true);
  // The pty comes from the sandbox's own devpts instance, through /dev/ptmx.
  assert.match(mountAt(plan, "/dev/pts").data, /^newinstance,ptmxmode=0666,/);
  assert.ok(
    plan.ops.some((op) =>
      op.op === "symlink" && op.path === "/dev/ptmx" && op.target === "pts/ptmx"
    ),
  );
  assert.equal(plan.newSession, true);
});

Deno.test("planSandbox() gives devpts gid=5 only when the tty group is mapped", () => {
  const mapped = mountAt(planSandbox(spec({ ttyGroupMapped: true })), "/dev/pts");
  assert.equal(mapped.fstype, "devpts");
  assert.equal(mapped.data, "newinstance,ptmxmode=0666,mode=620,gid=5");
  const unmapped = mountAt(planSandbox(spec({ ttyGroupMapped: false })), "/dev/pts");
  assert.equal(unmapped.data, "newinstance,ptmxmode=0666,mode=620");
});

Deno.test("planSandbox() mounts tmpfs on /tmp, /dev/shm and each --tmpfs target", () => {
  const plan = planSandbox(spec({ tmpfs: ["/var/tmp", "/run"] }));
  assert.equal(mountAt(plan, "/tmp").fstype, "tmpfs");
  assert.equal(mountAt(plan, "/tmp").data, "mode=1777");
  assert.equal(mountAt(plan, "/dev/shm").fstype, "tmpfs");
  for (const target of ["/var/tmp", "/run"]) {
    const mount = mountAt(plan, target);
    assert.deepEqual(mount, {
      op: "mount",
      source: "tmpfs",
      target,
      fstype: "tmpfs",
      data: "mode=755",
      flags: MS.NOSUID | MS.NODEV,
    });
    const mkdir = indexWhere(plan.ops, (op) => op.op === "mkdir-p" && op.path === target);
    assert.equal(mountIndex(plan, target), mkdir + 1);
  }
});

Deno.test("planSandbox() mounts --tmpfs targets after the binds", () => {
  const plan = planSandbox(spec());
  const lastBind = Math.max(...indexesWhere(
    plan.ops,
    (op) => op.op === "move-mount" && ["/src", "/out", "/etc/resolv.conf"].includes(op.target),
  ));
  assert.ok(mountIndex(plan, "/var/tmp") > lastBind);
  assert.ok(mountIndex(plan, "/run") > lastBind);
});

Deno.test("planSandbox() rejects a relative rootfs, run directory, bind, tmpfs or cwd", () => {
  const cases: [Partial<SandboxSpec>, RegExp][] = [
    [{ rootfs: "rootfs" }, /--rootfs must be an absolute path: rootfs/],
    [{ runDir: "runs/1" }, /the run directory must be an absolute path: runs\/1/],
    [{
      binds: [{ source: "src", target: "/src", readonly: true, directory: true }],
    }, /a bind source must be an absolute path: src/],
    [{
      binds: [{ source: "/src", target: "src", readonly: true, directory: true }],
    }, /a bind target must be an absolute path: src/],
    [{ tmpfs: ["tmp"] }, /a --tmpfs target must be an absolute path: tmp/],
    [{ cwd: "build" }, /--cwd must be an absolute path: build/],
  ];
  for (const [overrides, message] of cases) {
    assert.throws(() => planSandbox(spec(overrides)), (e: unknown) => {
      assert.ok(e instanceof PlanError, `PlanError for ${JSON.stringify(overrides)}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("planSandbox() rejects rootfs paths overlayfs options cannot carry", () => {
  for (const rootfs of ["/store/a,b", "/store/a:b", "/store/a\\b"]) {
    assert.throws(() => planSandbox(spec({ rootfs })), (e: unknown) => {
      assert.ok(e instanceof PlanError, `PlanError for ${rootfs}`);
      assert.ok(e.message.includes(rootfs), e.message);
      return true;
    });
  }
});

Deno.test("planSandbox() rejects a run directory overlayfs options cannot carry", () => {
  assert.throws(() => planSandbox(spec({ runDir: "/cache/runs/a,b" })), PlanError);
});

Deno.test("planSandbox() rejects an empty argv", () => {
  assert.throws(() => planSandbox(spec({ argv: [] })), /no command to run/);
});

Deno.test("planSandbox() passes the environment as KEY=VALUE, nothing inherited", () => {
  const plan = planSandbox(spec({ env: { A: "1", B: "x=y", EMPTY: "" } }));
  const exec = plan.ops.at(-1);
  assert.ok(exec?.op === "exec");
  assert.deepEqual(exec.env, ["A=1", "B=x=y", "EMPTY="]);
  // Without PATH in the env, the default PATH is searched.
  assert.deepEqual(exec.candidates, DEFAULT_PATH.split(":").map((d) => `${d}/make`));
});

Deno.test("execCandidates() uses a command containing a slash as is", () => {
  assert.deepEqual(execCandidates("/bin/sh", "/usr/bin"), ["/bin/sh"]);
  assert.deepEqual(execCandidates("./configure", "/usr/bin"), ["./configure"]);
  assert.deepEqual(execCandidates("sub/dir/tool", undefined), ["sub/dir/tool"]);
});

Deno.test("execCandidates() tries each PATH entry in order", () => {
  assert.deepEqual(execCandidates("gcc", "/opt/bin:/usr/bin:/bin"), [
    "/opt/bin/gcc",
    "/usr/bin/gcc",
    "/bin/gcc",
  ]);
});

Deno.test("execCandidates() searches the default PATH when PATH is unset", () => {
  assert.deepEqual(execCandidates("sh", undefined), [
    "/usr/local/sbin/sh",
    "/usr/local/bin/sh",
    "/usr/sbin/sh",
    "/usr/bin/sh",
    "/sbin/sh",
    "/bin/sh",
  ]);
});

Deno.test("execCandidates() reads an empty PATH entry as the current directory", () => {
  assert.deepEqual(execCandidates("tool", "/usr/bin::/bin"), [
    "/usr/bin/tool",
    "./tool",
    "/bin/tool",
  ]);
  assert.deepEqual(execCandidates("tool", ":/bin"), ["./tool", "/bin/tool"]);
});

Deno.test("execCandidates() drops trailing slashes of PATH entries", () => {
  assert.deepEqual(execCandidates("ls", "/usr/bin/:/bin//:/"), [
    "/usr/bin/ls",
    "/bin/ls",
    "/ls",
  ]);
});

Deno.test("planSandbox() stacks layers on the rootfs, top layer first in lowerdir", () => {
  const { ops } = planSandbox(spec({ layers: ["/store/layers/a/upper", "/store/layers/b/upper"] }));
  const overlay = ops.find((o) => o.op === "mount" && o.fstype === "overlay");
  assert.ok(overlay && overlay.op === "mount");
  assert.match(
    overlay.data,
    /^lowerdir=\/store\/layers\/b\/upper:\/store\/layers\/a\/upper:\/store\/bases\/debian,/,
  );
});

Deno.test("planSandbox() writes into a kept upper directory when one is given", () => {
  const { ops } = planSandbox(spec({ upperDir: "/store/tmp/layer-1/upper" }));
  const overlay = ops.find((o) => o.op === "mount" && o.fstype === "overlay");
  assert.ok(overlay && overlay.op === "mount");
  assert.match(
    overlay.data,
    /upperdir=\/store\/tmp\/layer-1\/upper,workdir=\/var\/cache\/nsbuild\/runs\/42-abc\/work,/,
  );
  assert.ok(ops.some((o) => o.op === "mkdir-p" && o.path === "/store/tmp/layer-1/upper"));
});

Deno.test("planSandbox() opens stdio paths before pivot_root, stdout and stderr appending", () => {
  const { ops } = planSandbox(
    spec({ stdio: { stdin: "/dev/null", stdout: "/t/log", stderr: "/t/log" } }),
  );
  const pivot = indexWhere(ops, (o) => o.op === "pivot-root");
  const stdio = ops.flatMap((o, i) => o.op === "open-stdio" ? [{ ...o, i }] : []);
  assert.deepEqual(stdio.map(({ fd, path, mode }) => [fd, path, mode]), [
    [0, "/dev/null", "read"],
    [1, "/t/log", "append"],
    [2, "/t/log", "append"],
  ]);
  assert.ok(stdio.every((o) => o.i < pivot));
  assert.ok(!planSandbox(spec()).ops.some((o) => o.op === "open-stdio"));
});

Deno.test("planSandbox() creates the requested directories after pivot_root, before the binds", () => {
  const { ops } = planSandbox(spec({ createDirs: ["/build", "/out"] }));
  const pivot = indexWhere(ops, (o) => o.op === "pivot-root");
  const build = indexWhere(ops, (o) => o.op === "mkdir-p" && o.path === "/build");
  const firstBind = indexWhere(ops, (o) => o.op === "move-mount" && o.target === "/src");
  assert.ok(pivot < build && build < firstBind);
});
