import assert from "node:assert/strict";
import {
  checkCgroup,
  checkContainer,
  checkExecutor,
  checkIdHelpers,
  checkKernel,
  checkLibseccomp,
  checkMmdebstrap,
  checkOverlay,
  type CheckResult,
  checkStore,
  checkSubordinateIds,
  checkUserNamespaces,
  detectContainer,
  exitStatus,
  formatResult,
  freeRange,
  runChecks,
  sandboxStage,
} from "./checks.ts";
import type { HostFacts, SandboxProbe } from "./facts.ts";

/** A machine where everything is right: bob, uid 1000, with subordinate ids. */
function healthy(): HostFacts {
  return {
    kernelRelease: "6.1.0-18-amd64",
    uid: 1000,
    gid: 1000,
    user: "bob",
    sysctl: { maxUserNamespaces: "63432" },
    helpers: {
      newuidmap: { path: "/usr/bin/newuidmap", mode: 0o104755, uid: 0 },
      newgidmap: { path: "/usr/bin/newgidmap", mode: 0o104755, uid: 0 },
    },
    subuid: "bob:100000:65536\n",
    subgid: "bob:100000:65536\n",
    container: { dockerenv: false, containerenv: false, proc1Cgroup: "0::/init.scope\n" },
    cgroup: {
      rootType: "cgroup2",
      path: "/user.slice/user-1000.slice/user@1000.service",
      dirUid: 1000,
    },
    mmdebstrap: { path: "/usr/bin/mmdebstrap", version: "mmdebstrap 1.3.5" },
    executor: {
      path: "/src/ffi/build/libnsbuild_executor.so",
      explicit: false,
      present: true,
      abi: 4,
      expectedAbi: 4,
    },
    libseccomp: { paths: ["/usr/lib/x86_64-linux-gnu/libseccomp.so.2"], version: "2.5.4" },
    store: {
      root: "/home/bob/.cache/nsbuild",
      writable: true,
      fstype: "ext4",
      availBytes: 50 * 1024 ** 3,
    },
    sandbox: { ok: true },
  };
}

function refused(
  syscall: string,
  step: string,
  errno = "EPERM",
): Extract<SandboxProbe, { ok: false }> {
  return { ok: false, step, syscall, errno, message: `${step}: ${syscall}: ${errno}` };
}

const CLONE_EPERM = refused("clone(CLONE_NEWUSER)", "creating the user namespace");

function only(results: CheckResult[], status: CheckResult["status"]): string[] {
  return results.filter((r) => r.status === status).map((r) => r.name);
}

Deno.test("runChecks() passes a healthy machine with one line per check, in order", () => {
  const results = runChecks(healthy());
  assert.deepEqual(results.map((r) => r.name), [
    "kernel",
    "user namespaces",
    "newuidmap/newgidmap",
    "subordinate ids",
    "container",
    "overlayfs in a user namespace",
    "cgroup v2 delegation",
    "mmdebstrap",
    "executor",
    "libseccomp",
    "store",
  ]);
  assert.deepEqual(only(results, "warn"), []);
  assert.deepEqual(only(results, "fail"), []);
  assert.equal(exitStatus(results), 0);
});

Deno.test("exitStatus() is 0 with warnings and 1 with any failure", () => {
  const warned = healthy();
  warned.mmdebstrap = undefined;
  assert.deepEqual(only(runChecks(warned), "warn"), ["mmdebstrap"]);
  assert.equal(exitStatus(runChecks(warned)), 0);
  const failing = healthy();
  failing.libseccomp = { paths: [] };
  assert.equal(exitStatus(runChecks(failing)), 1);
});

Deno.test("formatResult() prints the status, the name, the detail and the fix on one line", () => {
  assert.equal(
    formatResult({ name: "kernel", status: "ok", detail: "Linux 6.1" }),
    "ok    kernel: Linux 6.1",
  );
  assert.equal(
    formatResult({ name: "mmdebstrap", status: "warn", detail: "missing", fix: "install it" }),
    "WARN  mmdebstrap: missing — fix: install it",
  );
  assert.equal(formatResult({ name: "x", status: "fail", detail: "d" }), "FAIL  x: d");
});

Deno.test("checkKernel() wants 5.12 or newer", () => {
  const at = (release: string) => checkKernel({ ...healthy(), kernelRelease: release });
  assert.equal(at("5.10.0-28-amd64").status, "fail");
  assert.match(at("5.10.0-28-amd64").detail, /5\.12 or newer/);
  assert.equal(at("4.19.0").status, "fail");
  assert.equal(at("5.12.0").status, "ok");
  assert.equal(at("6.18.44-fc").status, "ok");
  assert.equal(at("").status, "warn");
});

Deno.test("sandboxStage() tells where the probe sandbox stopped", () => {
  assert.equal(sandboxStage({ ok: true }), "ok");
  assert.equal(sandboxStage({ ok: false, message: "executor missing" }), "untried");
  assert.equal(sandboxStage(CLONE_EPERM), "namespaces");
  assert.equal(
    sandboxStage(refused("setns(CLONE_NEWUSER)", "joining the user namespace")),
    "namespaces",
  );
  assert.equal(sandboxStage(refused("clone", "creating the sandbox namespaces")), "namespaces");
  assert.equal(sandboxStage(refused("newuidmap", "writing the id maps")), "idmap");
  assert.equal(
    sandboxStage(refused("mount overlay", "setting up the sandbox (op 7, mount)")),
    "overlay",
  );
  assert.equal(
    sandboxStage(refused("fsmount proc", "setting up the sandbox (op 8, proc-mount)")),
    "proc",
  );
  assert.equal(
    sandboxStage(refused("pivot_root", "setting up the sandbox (op 20, pivot-root)")),
    "other",
  );
  assert.equal(sandboxStage(refused("execve", "running the command", "ENOENT")), "other");
});

Deno.test("checkUserNamespaces() fails on a zero max_user_namespaces with the sysctl to set", () => {
  const f = { ...healthy(), sysctl: { maxUserNamespaces: "0" }, sandbox: CLONE_EPERM };
  const r = checkUserNamespaces(f);
  assert.equal(r.status, "fail");
  assert.match(r.detail, /max_user_namespaces=0/);
  assert.match(r.fix ?? "", /sudo sysctl -w user\.max_user_namespaces=/);
});

Deno.test("checkUserNamespaces() reads unprivileged_userns_clone only where it exists, and not for root", () => {
  const off = { ...healthy(), sysctl: { maxUserNamespaces: "100", unprivilegedUsernsClone: "0" } };
  off.sandbox = CLONE_EPERM;
  assert.equal(checkUserNamespaces(off).status, "fail");
  assert.match(checkUserNamespaces(off).fix ?? "", /kernel\.unprivileged_userns_clone=1/);
  assert.equal(checkUserNamespaces({ ...off, uid: 0, sandbox: { ok: true } }).status, "ok");
  assert.doesNotMatch(checkUserNamespaces(healthy()).detail, /unprivileged_userns_clone/);
});

Deno.test("checkUserNamespaces() gives Ubuntu's AppArmor restriction its exact remedy", () => {
  const f = healthy();
  f.sysctl = { maxUserNamespaces: "100", apparmorRestrict: "1" };
  f.sandbox = refused("setresuid", "becoming root in the user namespace");
  const r = checkUserNamespaces(f);
  assert.equal(r.status, "fail");
  assert.match(r.detail, /apparmor_restrict_unprivileged_userns=1/);
  assert.ok(
    r.fix?.includes("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
    r.fix,
  );
  assert.ok(r.fix?.includes("/etc/sysctl.d/"), r.fix);
  // The restriction is on, but a profile let the sandbox through.
  f.sandbox = { ok: true };
  assert.equal(checkUserNamespaces(f).status, "ok");
  assert.match(checkUserNamespaces(f).detail, /AppArmor profile allows/);
});

Deno.test("checkUserNamespaces() fails when the kernel refused despite the settings, and warns when untried", () => {
  const refusedHere = { ...healthy(), sandbox: CLONE_EPERM };
  assert.equal(checkUserNamespaces(refusedHere).status, "fail");
  assert.match(checkUserNamespaces(refusedHere).detail, /refused: creating the user namespace/);
  const noExecutor = { ...healthy(), sandbox: { ok: false as const, message: "cannot load" } };
  noExecutor.executor = { ...noExecutor.executor, present: false };
  assert.equal(checkUserNamespaces(noExecutor).status, "warn");
  assert.match(checkUserNamespaces(noExecutor).detail, /not tried: the executor does not load/);
  const noLibseccomp = { ...healthy(), sandbox: noExecutor.sandbox, libseccomp: { paths: [] } };
  assert.match(checkUserNamespaces(noLibseccomp).detail, /not tried: libseccomp does not load/);
  const other = { ...healthy(), sandbox: { ok: false as const, message: "surprise" } };
  assert.equal(checkUserNamespaces(other).detail, "max_user_namespaces=63432; not tried: surprise");
});

Deno.test("checkIdHelpers() fails on a missing helper with the package to install", () => {
  const f = healthy();
  f.helpers = { newuidmap: f.helpers.newuidmap };
  const r = checkIdHelpers(f);
  assert.equal(r.status, "fail");
  assert.match(r.detail, /newgidmap is missing/);
  assert.match(r.fix ?? "", /apt-get install uidmap/);
});

Deno.test("checkIdHelpers() accepts setuid root or the file capability, else names both fixes", () => {
  const f = healthy();
  f.helpers.newuidmap = {
    path: "/usr/bin/newuidmap",
    mode: 0o100755,
    uid: 0,
    caps: "/usr/bin/newuidmap cap_setuid=ep",
  };
  assert.equal(checkIdHelpers(f).status, "ok");
  assert.match(checkIdHelpers(f).detail, /newuidmap has cap_setuid/);
  // getcap says it has none.
  f.helpers.newuidmap = { ...f.helpers.newuidmap, caps: "" };
  const r = checkIdHelpers(f);
  assert.equal(r.status, "fail");
  assert.match(r.fix ?? "", /sudo chmod u\+s \/usr\/bin\/newuidmap/);
  assert.match(r.fix ?? "", /sudo setcap cap_setuid\+ep \/usr\/bin\/newuidmap/);
  // Setuid but owned by someone else is no use either.
  f.helpers.newuidmap = { path: "/usr/bin/newuidmap", mode: 0o104755, uid: 1000, caps: "" };
  assert.equal(checkIdHelpers(f).status, "fail");
});

Deno.test("checkIdHelpers() trusts working id maps when capabilities cannot be read", () => {
  const f = healthy();
  f.helpers.newgidmap = { path: "/usr/bin/newgidmap", mode: 0o100755, uid: 0 };
  assert.equal(checkIdHelpers(f).status, "ok");
  f.sandbox = refused("newgidmap", "writing the id maps");
  const r = checkIdHelpers(f);
  assert.equal(r.status, "fail");
  assert.match(r.detail, /the id maps failed/);
  assert.equal(checkIdHelpers({ ...f, uid: 0 }).status, "ok");
});

Deno.test("checkSubordinateIds() fails without ranges and gives the usermod line", () => {
  const f = { ...healthy(), subuid: "", subgid: "" };
  const r = checkSubordinateIds(f);
  assert.equal(
    formatResult(r),
    "FAIL  subordinate ids: none for user bob in /etc/subuid and /etc/subgid: only root is " +
      "mapped inside, so chown to other ids fails — fix: sudo usermod --add-subuids " +
      "100000-165535 --add-subgids 100000-165535 bob",
  );
  // Only /etc/subgid lacks bob, and another user holds 100000-165535 already.
  const r2 = checkSubordinateIds({ ...f, subuid: "alice:100000:65536\nbob:165536:65536\n" });
  assert.match(r2.detail, /in \/etc\/subgid:/);
  assert.match(r2.fix ?? "", /--add-subuids 231072-296607 --add-subgids 231072-296607 bob$/);
});

Deno.test("freeRange() starts above every range in either file", () => {
  assert.deepEqual(freeRange("", ""), { start: 100000, count: 65536 });
  assert.deepEqual(freeRange("a:100000:65536\n# c:1:2\n", "b:500000:10\n"), {
    start: 500010,
    count: 65536,
  });
});

Deno.test("checkSubordinateIds() warns on short ranges and is content for root", () => {
  const f = { ...healthy(), subuid: "bob:100000:1000\n" };
  assert.equal(checkSubordinateIds(f).status, "warn");
  assert.match(checkSubordinateIds(f).detail, /ids above 1000 inside are unmapped/);
  assert.equal(
    checkSubordinateIds(healthy()).detail,
    "bob: uids 100000-165535, gids 100000-165535",
  );
  const root = checkSubordinateIds({ ...healthy(), uid: 0, gid: 0, user: "root" });
  assert.equal(root.status, "ok");
  assert.match(root.detail, /1879048192/);
});

Deno.test("detectContainer() uses systemd-detect-virt, marker files and pid 1's cgroup", () => {
  const none = healthy().container;
  assert.equal(detectContainer(none), undefined);
  assert.equal(detectContainer({ ...none, detectVirt: "none" }), undefined);
  assert.equal(detectContainer({ ...none, detectVirt: "lxc" }), "lxc");
  assert.equal(detectContainer({ ...none, dockerenv: true }), "docker");
  assert.equal(detectContainer({ ...none, containerenv: true }), "podman");
  assert.equal(
    detectContainer({ ...none, proc1Cgroup: "0::/kubepods/besteffort/pod1/abc\n" }),
    "kubernetes",
  );
  assert.equal(detectContainer({ ...none, proc1Cgroup: "12:pids:/docker/0123abcd\n" }), "docker");
});

Deno.test("checkContainer() blames a container's seccomp profile only when it blocked namespaces", () => {
  const f = healthy();
  assert.equal(checkContainer(f).status, "ok");
  assert.equal(checkContainer(f).detail, "not inside a container");
  f.container = { ...f.container, dockerenv: true, seccompMode: 2 };
  assert.equal(checkContainer(f).status, "ok");
  f.sandbox = CLONE_EPERM;
  const r = checkContainer(f);
  assert.equal(r.status, "fail");
  assert.match(r.detail, /inside docker \(seccomp filter: yes\) whose profile blocks namespaces/);
  assert.match(r.fix ?? "", /--security-opt seccomp=unconfined/);
  // Without a filter the cause lies elsewhere: the user namespaces line fails instead.
  f.container.seccompMode = 0;
  assert.equal(checkContainer(f).status, "warn");
  assert.equal(checkUserNamespaces(f).status, "fail");
});

Deno.test("checkContainer() explains a masked /proc", () => {
  const f = healthy();
  f.container = { ...f.container, detectVirt: "docker", seccompMode: 2 };
  f.sandbox = refused("fsmount proc", "setting up the sandbox (op 8, proc-mount)");
  assert.equal(checkContainer(f).status, "fail");
  assert.match(checkContainer(f).fix ?? "", /systempaths=unconfined/);
  assert.equal(checkOverlay(f).status, "ok");
});

Deno.test("checkOverlay() fails with the store's file system when overlayfs is refused", () => {
  const f = healthy();
  f.store.fstype = "tmpfs";
  f.sandbox = refused("mount overlay", "setting up the sandbox (op 7, mount)", "EINVAL");
  const r = checkOverlay(f);
  assert.equal(r.status, "fail");
  assert.match(r.detail, /upper directory in \/home\/bob\/\.cache\/nsbuild \(tmpfs\)/);
  assert.match(r.fix ?? "", /NSBUILD_HOME/);
  f.sandbox = CLONE_EPERM;
  assert.equal(checkOverlay(f).status, "warn");
  assert.match(checkOverlay(f).detail, /not tried/);
});

Deno.test("checkOverlay() fails on any other sandbox failure, with the error's own hint", () => {
  const f = healthy();
  f.sandbox = {
    ...refused("pivot_root", "setting up the sandbox (op 20, pivot-root)"),
    hint: "new root",
  };
  assert.equal(checkOverlay(f).status, "fail");
  assert.equal(checkOverlay(f).fix, "new root");
});

Deno.test("checkCgroup() wants a delegated cgroup v2, and only warns", () => {
  assert.equal(checkCgroup(healthy()).status, "ok");
  const v1 = { ...healthy(), cgroup: { rootType: "tmpfs" } };
  assert.equal(checkCgroup(v1).status, "warn");
  assert.match(checkCgroup(v1).detail, /cgroup v1 or hybrid/);
  const session = {
    ...healthy(),
    cgroup: { rootType: "cgroup2", path: "/user.slice/session-3.scope", dirUid: 0 },
  };
  assert.equal(checkCgroup(session).status, "warn");
  assert.match(checkCgroup(session).fix ?? "", /systemd-run --user --scope -p Delegate=yes/);
  assert.equal(checkCgroup({ ...session, uid: 0 }).status, "ok");
});

Deno.test("checkMmdebstrap() warns when it is missing", () => {
  assert.equal(checkMmdebstrap(healthy()).detail, "/usr/bin/mmdebstrap (mmdebstrap 1.3.5)");
  const r = checkMmdebstrap({ ...healthy(), mmdebstrap: undefined });
  assert.equal(r.status, "warn");
  assert.equal(r.fix, "sudo apt-get install mmdebstrap");
});

Deno.test("checkExecutor() wants the library present, loadable and of the same ABI", () => {
  const f = healthy();
  assert.equal(checkExecutor(f).detail, "/src/ffi/build/libnsbuild_executor.so (ABI 4)");
  const missing = checkExecutor({ ...f, executor: { ...f.executor, present: false } });
  assert.equal(missing.status, "fail");
  assert.match(missing.fix ?? "", /deno task setup/);
  const old = checkExecutor({ ...f, executor: { ...f.executor, abi: 3 } });
  assert.equal(old.status, "fail");
  assert.match(old.detail, /speaks ABI 3, nsbuild expects 4/);
  const broken = checkExecutor({ ...f, executor: { ...f.executor, error: "bad ELF" } });
  assert.match(broken.detail, /cannot be loaded: bad ELF/);
  const elsewhere = checkExecutor({
    ...f,
    executor: { ...f.executor, explicit: true, present: false },
  });
  assert.match(elsewhere.fix ?? "", /NSBUILD_EXECUTOR/);
});

Deno.test("checkLibseccomp() fails when libseccomp.so.2 is missing or does not load", () => {
  const f = healthy();
  assert.equal(
    checkLibseccomp(f).detail,
    "/usr/lib/x86_64-linux-gnu/libseccomp.so.2 (version 2.5.4)",
  );
  const missing = checkLibseccomp({ ...f, libseccomp: { paths: [] } });
  assert.equal(missing.status, "fail");
  assert.equal(missing.fix, "sudo apt-get install libseccomp2");
  const broken = checkLibseccomp({
    ...f,
    libseccomp: { paths: ["/lib/libseccomp.so.2"], loadError: "bad" },
  });
  assert.equal(broken.status, "fail");
  const elsewhere = checkLibseccomp({ ...f, libseccomp: { paths: [], version: "2.5.5" } });
  assert.equal(elsewhere.detail, "libseccomp.so.2 (version 2.5.5)");
  const absent = checkLibseccomp({ ...f, libseccomp: { paths: [], loadError: "no such file" } });
  assert.match(absent.detail, /not found \(no such file\)/);
  assert.equal(absent.fix, "sudo apt-get install libseccomp2");
  // Found but not loaded (no FFI permission for it): still fine.
  assert.equal(
    checkLibseccomp({ ...f, libseccomp: { paths: ["/lib/libseccomp.so.2"] } }).status,
    "ok",
  );
});

Deno.test("checkStore() warns under 2 GiB free and fails when the store is not writable", () => {
  const f = healthy();
  assert.equal(checkStore(f).detail, "/home/bob/.cache/nsbuild (ext4, 50 GiB free)");
  const low = checkStore({ ...f, store: { ...f.store, availBytes: 1024 ** 3 } });
  assert.equal(low.status, "warn");
  assert.match(low.detail, /1\.0 GiB free\): under 2\.0 GiB/);
  assert.match(low.fix ?? "", /nsbuild cache prune/);
  const locked = checkStore({ ...f, store: { ...f.store, writable: false, error: "EACCES" } });
  assert.equal(locked.status, "fail");
  assert.match(locked.detail, /is not writable: EACCES/);
  assert.equal(checkStore({ ...f, store: { writable: false, error: "no HOME" } }).status, "fail");
  assert.equal(checkStore({ ...f, store: { ...f.store, availBytes: undefined } }).status, "warn");
});
