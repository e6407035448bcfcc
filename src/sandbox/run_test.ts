import assert from "node:assert/strict";
import { dirname } from "node:path";
import {
  type ExecRecord,
  type Executor,
  ExecutorCallError,
  type Helper,
  RecordKind,
  type SpawnHandles,
  Step,
  StepSyscall,
} from "./executor.ts";
import { SandboxError } from "./errors.ts";
import { errnoName } from "./errno.ts";
import { type IdMapPlan, planIdMaps } from "./idmap.ts";
import { opPath, opSyscall } from "./ops.ts";
import { PlanError, planSandbox } from "./plan.ts";
import { defaultFilter } from "./seccomp.ts";
import {
  CommandError,
  EXIT_NOT_EXECUTABLE,
  EXIT_NOT_FOUND,
  EXIT_SETUP_FAILED,
  type HostTerminal,
  refuseDegraded,
  runSandbox,
  sandboxCleanups,
  type SandboxRequest,
} from "./run.ts";

const EPERM = 1, ENOENT = 2, EACCES = 13, ENOTDIR = 20, EINVAL = 22;

const MAPS: IdMapPlan = {
  mode: "subordinate",
  uidMap: [
    { inside: 0, outside: 1000, count: 1 },
    { inside: 1, outside: 100000, count: 65536 },
  ],
  gidMap: [
    { inside: 0, outside: 1000, count: 1 },
    { inside: 1, outside: 100000, count: 65536 },
  ],
  writer: "helpers",
  setgroups: "allow",
};

const SINGLE: IdMapPlan = {
  mode: "single",
  uidMap: [{ inside: 0, outside: 1000, count: 1 }],
  gidMap: [{ inside: 0, outside: 1000, count: 1 }],
  writer: "direct",
  setgroups: "deny",
};

type Call =
  | { call: "spawn"; plan: Uint8Array }
  | { call: "runHelpers"; pid: number; helpers: Helper[] }
  | { call: "openUserns"; pid: number }
  | { call: "writeMaps"; pid: number; uidMap: string; gidMap: string; denySetgroups: boolean }
  | { call: "release"; syncFd: number; go: boolean }
  | { call: "wait"; pid: number }
  | { call: "waitExit"; fd: number }
  | { call: "readRecords"; fd: number }
  | { call: "kill"; pid: number; signal: number }
  | { call: "validate" };

/** A recording fake: no process is ever started. */
class FakeExecutor implements Executor {
  calls: Call[] = [];
  constructor(
    private readonly outcome: {
      /** What the monitor reports up to the command's status (RecordKind.Exited). */
      early?: ExecRecord[];
      records?: ExecRecord[];
      status?: number;
      spawnError?: Error;
    } = {},
  ) {}

  validate(_plan: Uint8Array): number {
    this.calls.push({ call: "validate" });
    return 0;
  }
  spawn(plan: Uint8Array): SpawnHandles {
    this.calls.push({ call: "spawn", plan: plan.slice() });
    if (this.outcome.spawnError) throw this.outcome.spawnError;
    return { pid: 4242, syncFd: -1, reportFd: 77 };
  }
  runHelpers(pid: number, helpers: Helper[]): number {
    this.calls.push({ call: "runHelpers", pid, helpers });
    return 0;
  }
  openUserns(pid: number): number {
    this.calls.push({ call: "openUserns", pid });
    return -EPERM;
  }
  writeMaps(pid: number, uidMap: string, gidMap: string, denySetgroups: boolean): number {
    this.calls.push({ call: "writeMaps", pid, uidMap, gidMap, denySetgroups });
    return 0;
  }
  release(syncFd: number, go: boolean): void {
    this.calls.push({ call: "release", syncFd, go });
  }
  wait(pid: number): Promise<number> {
    this.calls.push({ call: "wait", pid });
    return Promise.resolve(this.outcome.status ?? 0);
  }
  waitExit(fd: number): Promise<ExecRecord[]> {
    this.calls.push({ call: "waitExit", fd });
    return Promise.resolve(this.outcome.early ?? []);
  }
  readRecords(fd: number): ExecRecord[] {
    this.calls.push({ call: "readRecords", fd });
    return this.outcome.records ?? [];
  }
  mkfifo(_path: string, _mode: number): void {
    throw new Error("the fake executor makes no FIFOs");
  }

  kill(pid: number, signal: number): void {
    this.calls.push({ call: "kill", pid, signal });
  }
}

/**
 * A fresh, empty run directory as createRunDir() makes it, inside a private parent (the
 * runs directory of a store): as root, runSandbox() may chown the run
 * directory's parent, which must not be the host's /tmp.
 */
async function makeRunDir(): Promise<string> {
  const runs = await Deno.makeTempDir({ prefix: "nsbuild-run-test-" });
  const dir = `${runs}/run`;
  await Deno.mkdir(dir);
  return dir;
}

/** Removes a run directory made by makeRunDir() and its parent. */
async function removeRunDir(runDir: string): Promise<void> {
  await Deno.remove(dirname(runDir), { recursive: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function request(runDir: string, overrides: Partial<SandboxRequest> = {}): SandboxRequest {
  return {
    rootfs: "/store/bases/debian",
    runDir,
    binds: [
      { source: "/home/u/src", target: "/src", readonly: true, directory: true },
      { source: "/etc/hosts", target: "/etc/hosts", readonly: false, directory: false },
    ],
    tmpfs: ["/var/tmp"],
    network: false,
    hostname: "nsbuild",
    env: { PATH: "/usr/bin:/bin", HOME: "/root" },
    cwd: "/src",
    argv: ["make", "all"],
    ...overrides,
  };
}

/** Runs a sandbox against a fake in a fresh run directory, then removes it. */
async function run(
  executor: FakeExecutor,
  overrides: Partial<SandboxRequest> = {},
  maps: IdMapPlan = MAPS,
) {
  const runDir = await makeRunDir();
  try {
    const result = await runSandbox(request(runDir, overrides), executor, maps);
    return { result, runDir };
  } finally {
    await removeRunDir(runDir);
  }
}

function record(kind: number, opIndex: number, errno: number): ExecRecord {
  return { kind, opIndex, errno, value: 0 };
}

Deno.test("runSandbox() names the syscall, path and errno of whichever op fails", async () => {
  const ops = planSandbox({
    ...request("/x"),
    usernsFd: -1,
    ttyGroupMapped: true,
    seccompProgram: defaultFilter(),
  }).ops;
  const errnos = [EPERM, ENOENT, EACCES, ENOTDIR, EINVAL, 30, 16, 38, 21];
  assert.ok(ops.length > 30);
  for (const [i, op] of ops.entries()) {
    const errno = errnos[i % errnos.length]!;
    const executor = new FakeExecutor({
      records: [record(RecordKind.SetupFailed, i, errno)],
      status: 1,
    });
    const runDir = await makeRunDir();
    try {
      // The same run directory as the plan above, so every path matches.
      const result = await runSandbox(
        request(runDir),
        executor,
        MAPS,
      );
      const where = `op ${i} (${op.op})`;
      assert.equal(result.status, EXIT_SETUP_FAILED, where);
      assert.ok(result.error instanceof SandboxError, where);
      const error = result.error;
      const actual = planSandbox({
        ...request(runDir),
        usernsFd: -1,
        ttyGroupMapped: true,
        seccompProgram: defaultFilter(),
      })
        .ops[i]!;
      assert.equal(actual.op, op.op, where);
      assert.ok(error.message.includes(opSyscall(actual)), `${where}: ${error.message}`);
      const path = opPath(actual);
      if (path !== undefined) {
        assert.ok(error.message.includes(`${opSyscall(actual)} ${path}`), error.message);
        assert.equal(error.path, path);
      }
      assert.ok(error.message.includes(errnoName(errno)), `${where}: ${error.message}`);
      assert.equal(error.errno, errno);
      assert.equal(error.errnoName, errnoName(errno));
      assert.equal(error.syscall, opSyscall(actual));
      assert.match(error.step, new RegExp(`^setting up the sandbox \\(op ${i}, ${op.op}\\)$`));
    } finally {
      await removeRunDir(runDir);
    }
  }
});

Deno.test("runSandbox() reports the overlay mount's failure with the run directory's root", async () => {
  const runDir = await makeRunDir();
  try {
    const ops = planSandbox({
      ...request(runDir),
      usernsFd: -1,
      ttyGroupMapped: true,
      seccompProgram: defaultFilter(),
    }).ops;
    const overlay = ops.findIndex((op) => op.op === "mount" && op.fstype === "overlay");
    assert.ok(overlay > 0);
    const executor = new FakeExecutor({
      records: [record(RecordKind.SetupFailed, overlay, EINVAL)],
    });
    const result = await runSandbox(request(runDir), executor, MAPS);
    assert.equal(result.status, 125);
    assert.ok(result.error instanceof SandboxError);
    assert.match(
      result.error.message,
      new RegExp(
        `^setting up the sandbox \\(op ${overlay}, mount\\): mount overlay ${runDir}/root: ` +
          `EINVAL \\(Invalid argument\\)\\n  hint: overlayfs refused`,
      ),
    );
  } finally {
    await removeRunDir(runDir);
  }
});

Deno.test("runSandbox() reports the first setup failure when several arrive", async () => {
  const { result } = await run(
    new FakeExecutor({
      records: [
        record(RecordKind.SetupFailed, 4, ENOENT),
        record(RecordKind.SetupFailed, 2, EPERM),
        record(RecordKind.ExecFailed, -6, EACCES),
      ],
    }),
  );
  assert.ok(result.error instanceof SandboxError);
  assert.equal(result.error.errno, ENOENT);
  assert.match(result.error.step, /op 4,/);
});

Deno.test("runSandbox() returns 127 and a CommandError when exec finds no command", async () => {
  for (const errno of [ENOENT, ENOTDIR]) {
    const { result } = await run(
      new FakeExecutor({ records: [record(RecordKind.ExecFailed, 40, errno)], status: 1 }),
    );
    assert.equal(result.status, EXIT_NOT_FOUND);
    assert.equal(result.status, 127);
    assert.ok(result.error instanceof CommandError);
    assert.equal(result.error.command, "make");
    assert.equal(result.error.errno, errno);
    assert.match(result.error.message, /^make: command not found in the sandbox/);
  }
});

Deno.test("runSandbox() returns 126 and a CommandError when the command cannot be executed", async () => {
  const { result } = await run(
    new FakeExecutor({ records: [record(RecordKind.ExecFailed, 40, EACCES)], status: 1 }),
  );
  assert.equal(result.status, EXIT_NOT_EXECUTABLE);
  assert.equal(result.status, 126);
  assert.ok(result.error instanceof CommandError);
  assert.equal(result.error.status, 126);
  assert.equal(result.error.message, "make: cannot execute: EACCES (Permission denied)");
});

Deno.test("runSandbox() returns the waited status of a clean run", async () => {
  for (const status of [0, 1, 2, 130, 137]) {
    const executor = new FakeExecutor({ status });
    const { result } = await run(executor);
    assert.equal(result.status, status);
    assert.equal(result.error, undefined);
    assert.equal(result.warning, undefined);
  }
});

Deno.test("runSandbox() spawns once, waits for the pid and reads the report fd", async () => {
  const executor = new FakeExecutor({ status: 3 });
  await run(executor);
  assert.deepEqual(executor.calls.map((c) => c.call), [
    "spawn",
    "waitExit",
    "wait",
    "readRecords",
  ]);
  assert.deepEqual(executor.calls[1], { call: "waitExit", fd: 77 });
  assert.deepEqual(executor.calls[2], { call: "wait", pid: 4242 });
  assert.deepEqual(executor.calls[3], { call: "readRecords", fd: 77 });
});

Deno.test("runSandbox() hands spawn the encoded plan of its request", async () => {
  const executor = new FakeExecutor();
  const { runDir } = await run(executor, { argv: ["/bin/echo", "hi"] });
  const spawned = executor.calls[0];
  assert.ok(spawned?.call === "spawn");
  const view = new DataView(spawned.plan.buffer);
  assert.equal(view.getUint32(0, true), 0x5042534e);
  assert.equal(view.getUint32(8, true), spawned.plan.length);
  const expected = planSandbox({
    ...request(runDir, { argv: ["/bin/echo", "hi"] }),
    usernsFd: -1,
    ttyGroupMapped: true,
    seccompProgram: defaultFilter(),
  });
  assert.equal(view.getUint32(12, true), expected.ops.length);
  assert.equal(view.getInt32(20, true), -1);
  const text = new TextDecoder().decode(spawned.plan);
  assert.ok(text.includes(`${runDir}/root\0`));
  assert.ok(text.includes("/bin/echo\0hi\0"));
});

Deno.test("runSandbox() plans devpts gid=5 only when the gid map covers gid 5", async () => {
  const mapped = new FakeExecutor();
  await run(mapped, {}, MAPS);
  const single = new FakeExecutor();
  await run(single, {}, SINGLE);
  const text = (e: FakeExecutor) => {
    const c = e.calls[0];
    assert.ok(c?.call === "spawn");
    return new TextDecoder().decode(c.plan);
  };
  assert.ok(text(mapped).includes("mode=620,gid=5\0"));
  assert.ok(!text(single).includes("gid=5"));
  assert.ok(text(single).includes("mode=620\0"));
});

Deno.test("runSandbox() maps negative record indexes to the protocol step names", async () => {
  for (let index = -1; index >= -16; index--) {
    const { result } = await run(
      new FakeExecutor({ records: [record(RecordKind.SetupFailed, index, EINVAL)] }),
    );
    assert.equal(result.status, EXIT_SETUP_FAILED);
    assert.ok(result.error instanceof SandboxError);
    assert.equal(result.error.step, Step[index]);
    assert.equal(result.error.syscall, StepSyscall[index]);
    assert.equal(result.error.path, undefined);
    assert.ok(
      result.error.message.startsWith(`${Step[index]}: ${StepSyscall[index]}: EINVAL`),
      result.error.message,
    );
  }
  assert.equal(Step[-1], "waiting for the id maps");
  assert.equal(Step[-4], "creating the sandbox namespaces");
  assert.equal(StepSyscall[-4], "clone");
  assert.equal(StepSyscall[-12], "ioctl(TIOCGPTPEER)");
  assert.equal(StepSyscall[-14], "ioctl(TIOCSCTTY)");
});

Deno.test("runSandbox() hints at user namespace settings when joining or cloning fails", async () => {
  for (const index of [-2, -3, -4]) {
    const { result } = await run(
      new FakeExecutor({ records: [record(RecordKind.SetupFailed, index, EPERM)] }),
    );
    assert.ok(result.error instanceof SandboxError);
    assert.match(result.error.hint, /user\.max_user_namespaces/);
  }
  const { result } = await run(
    new FakeExecutor({ records: [record(RecordKind.SetupFailed, -5, EPERM)] }),
  );
  assert.ok(result.error instanceof SandboxError);
  assert.equal(result.error.hint, "");
});

Deno.test("runSandbox() names an unknown protocol step by its number", async () => {
  const { result } = await run(
    new FakeExecutor({ records: [record(RecordKind.SetupFailed, -42, 999)] }),
  );
  assert.ok(result.error instanceof SandboxError);
  assert.equal(result.error.step, "protocol step -42");
  assert.equal(result.error.message, "protocol step -42: unknown: errno 999");
});

Deno.test("runSandbox() turns a cleanup record into a warning and keeps the status", async () => {
  const { result } = await run(
    new FakeExecutor({ records: [record(RecordKind.CleanupFailed, 0, EACCES)], status: 7 }),
  );
  assert.equal(result.status, 7);
  assert.equal(result.error, undefined);
  assert.match(result.warning ?? "", /could not remove the run directory: EACCES/);
  assert.match(result.warning ?? "", /nsbuild cache prune/);
});

Deno.test("runSandbox() with cleanupInBackground returns at the command's status, then reports the cleanup", async () => {
  const exited: ExecRecord = { kind: RecordKind.Exited, opIndex: -1, errno: 0, value: 3 };
  const executor = new FakeExecutor({
    early: [exited],
    records: [record(RecordKind.CleanupFailed, -1, EACCES)],
    status: 3,
  });
  const { result } = await run(executor, { cleanupInBackground: true });
  assert.equal(result.status, 3);
  assert.equal(result.error, undefined);
  assert.match((await result.cleanup) ?? "", /could not remove the run directory: EACCES/);
  await sandboxCleanups();
  const order = executor.calls.map((c) => c.call).filter((c) => c !== "runHelpers");
  assert.deepEqual(order.slice(-3), ["waitExit", "wait", "readRecords"]);
});

Deno.test("runSandbox() without cleanupInBackground waits for the monitor though the status came early", async () => {
  const exited: ExecRecord = { kind: RecordKind.Exited, opIndex: -1, errno: 0, value: 3 };
  const executor = new FakeExecutor({
    early: [exited],
    records: [record(RecordKind.CleanupFailed, -1, EACCES)],
    status: 3,
  });
  const { result } = await run(executor);
  assert.equal(result.status, 3);
  assert.equal(result.cleanup, undefined);
  assert.match(result.warning ?? "", /could not remove the run directory: EACCES/);
});

Deno.test("runSandbox() turns spawn's EPERM into a SandboxError with the user namespace hint", async () => {
  const runDir = await makeRunDir();
  try {
    const executor = new FakeExecutor({ spawnError: new ExecutorCallError("nsb_spawn", EPERM) });
    await assert.rejects(runSandbox(request(runDir), executor, MAPS), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.equal(e.step, "creating the user namespace");
      assert.equal(e.syscall, "clone(CLONE_NEWUSER)");
      assert.equal(e.errno, EPERM);
      assert.match(e.hint, /sysctl user\.max_user_namespaces/);
      assert.match(e.message, /^creating the user namespace: clone\(CLONE_NEWUSER\): EPERM/);
      return true;
    });
    assert.deepEqual(executor.calls.map((c) => c.call), ["spawn"]);
  } finally {
    await removeRunDir(runDir);
  }
});

Deno.test("runSandbox() removes the run directory when spawn fails", async () => {
  for (const spawnError of [new ExecutorCallError("nsb_spawn", EPERM), new Error("boom")]) {
    const runDir = await makeRunDir();
    await Deno.mkdir(`${runDir}/upper`);
    await Deno.writeTextFile(`${runDir}/upper/file`, "x");
    try {
      await assert.rejects(
        runSandbox(request(runDir), new FakeExecutor({ spawnError }), MAPS),
        spawnError instanceof ExecutorCallError ? SandboxError : /boom/,
      );
      assert.equal(await exists(runDir), false, `${runDir} left behind`);
    } finally {
      await removeRunDir(runDir);
    }
  }
});

Deno.test("runSandbox() removes the run directory and never spawns when planning fails", async () => {
  const runDir = await makeRunDir();
  const executor = new FakeExecutor();
  try {
    await assert.rejects(runSandbox(request(runDir, { cwd: "src" }), executor, MAPS), PlanError);
    assert.equal(await exists(runDir), false);
    assert.deepEqual(executor.calls, []);
  } finally {
    await removeRunDir(runDir);
  }
});

/** A host terminal that records each setRaw() with how many executor calls preceded it. */
class FakeTerminal implements HostTerminal {
  log: { raw: boolean; afterCalls: string[] }[] = [];
  constructor(private readonly executor: FakeExecutor, private readonly fails = false) {}
  setRaw(raw: boolean): void {
    this.log.push({ raw, afterCalls: this.executor.calls.map((c) => c.call) });
    if (this.fails) throw new Deno.errors.NotSupported("not a terminal");
  }
}

/** Spawns a monitor that waits for its id maps, whose helpers then fail. */
class FailingMapsExecutor extends FakeExecutor {
  override spawn(plan: Uint8Array): SpawnHandles {
    super.spawn(plan);
    return { pid: 4242, syncFd: 5, reportFd: 77 };
  }
  override runHelpers(pid: number, helpers: Helper[]): number {
    super.runHelpers(pid, helpers);
    return 1 << 8 | 1;
  }
}

Deno.test("runSandbox() sets the terminal flag and raw mode only when asked for a terminal", async () => {
  for (const terminal of [undefined, false, true]) {
    const executor = new FakeExecutor({ status: 5 });
    const host = new FakeTerminal(executor);
    const runDir = await makeRunDir();
    try {
      const result = await runSandbox(request(runDir, { terminal }), executor, MAPS, host);
      assert.equal(result.status, 5);
      const spawned = executor.calls[0];
      assert.ok(spawned?.call === "spawn");
      const flags = new DataView(spawned.plan.buffer).getUint32(24, true);
      assert.equal(flags & 4, terminal ? 4 : 0);
      assert.deepEqual(host.log.map((l) => l.raw), terminal ? [true, false] : []);
    } finally {
      await removeRunDir(runDir);
    }
  }
});

Deno.test("runSandbox() makes the terminal raw only after spawn and restores it after the wait", async () => {
  const executor = new FakeExecutor();
  const host = new FakeTerminal(executor);
  const runDir = await makeRunDir();
  try {
    await runSandbox(request(runDir, { terminal: true }), executor, MAPS, host);
    // The executor copies the cooked settings at spawn: raw must come after.
    assert.deepEqual(host.log, [
      { raw: true, afterCalls: ["spawn"] },
      { raw: false, afterCalls: ["spawn", "waitExit", "wait", "readRecords"] },
    ]);
  } finally {
    await removeRunDir(runDir);
  }
});

Deno.test("runSandbox() restores the terminal when writing the id maps fails", async () => {
  const executor = new FailingMapsExecutor();
  const host = new FakeTerminal(executor);
  const runDir = await makeRunDir();
  try {
    await assert.rejects(runSandbox(request(runDir, { terminal: true }), executor, MAPS, host));
    assert.deepEqual(host.log.map((l) => l.raw), [true, false]);
    assert.ok(executor.calls.some((c) => c.call === "release" && !c.go));
  } finally {
    await removeRunDir(runDir);
  }
});

Deno.test("runSandbox() runs on with a cooked terminal when raw mode cannot be set", async () => {
  const executor = new FakeExecutor({ status: 9 });
  const host = new FakeTerminal(executor, true);
  const runDir = await makeRunDir();
  try {
    const result = await runSandbox(request(runDir, { terminal: true }), executor, MAPS, host);
    assert.equal(result.status, 9);
    assert.deepEqual(host.log.map((l) => l.raw), [true]);
  } finally {
    await removeRunDir(runDir);
  }
});

Deno.test("refuseDegraded() refuses a single-id map unless --single-id accepted it", () => {
  const single = planIdMaps({ uid: 1000, gid: 1000, user: "bob" }, "", "");
  const refusal = refuseDegraded(single, false);
  assert.ok(refusal);
  assert.match(refusal.message, /no subordinate ids for bob .*refusing to build with only root/);
  assert.match(refusal.hint, /sudo usermod --add-subuids .* bob`.*--single-id/);
  assert.equal(refuseDegraded(single, true), undefined);
  const full = planIdMaps(
    { uid: 1000, gid: 1000, user: "bob" },
    "bob:100000:65536\n",
    "bob:100000:65536\n",
  );
  assert.equal(refuseDegraded(full, false), undefined);
});
