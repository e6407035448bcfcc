/**
 * The checks of `nsbuild doctor`: pure functions from HostFacts (gathered by
 * src/doctor/facts.ts) to one result each, with the fix when there is one.
 */
import type { HostFacts, SandboxProbe } from "./facts.ts";
import {
  MAX_SUBORDINATE,
  parseSubids,
  ROOT_DEFAULT_RANGE,
  type SubidRange,
} from "../sandbox/idmap.ts";
import { formatBytes } from "../cli/format.ts";

export type Status = "ok" | "warn" | "fail";

export interface CheckResult {
  name: string;
  status: Status;
  detail: string;
  fix?: string;
}

/** mount_setattr and overlayfs in user namespaces (README: Prerequisites). */
export const MIN_KERNEL = [5, 12] as const;
/** Below this much free space the store check warns. */
export const LOW_SPACE_BYTES = 2 * 1024 ** 3;

/** Where the probe sandbox stopped. */
export type Stage = "ok" | "namespaces" | "idmap" | "overlay" | "proc" | "other" | "untried";

export function sandboxStage(probe: SandboxProbe): Stage {
  if (probe.ok) return "ok";
  if (probe.step === undefined) return "untried";
  if (probe.step === "writing the id maps") return "idmap";
  const syscall = probe.syscall ?? "";
  if (/^(clone|setns\(CLONE_NEWUSER\)|setresuid)/.test(syscall)) return "namespaces";
  if (syscall === "mount overlay") return "overlay";
  if (syscall === "fsmount proc") return "proc";
  return "other";
}

function failed(probe: SandboxProbe): string {
  return probe.ok ? "" : probe.message;
}

/** Why no sandbox was tried, pointing at the line that explains it when there is one. */
function untried(f: HostFacts): string {
  if (!f.store.writable) return "no writable store (see the store line)";
  if (checkExecutor(f).status === "fail") return "the executor does not load (see its line)";
  if (checkLibseccomp(f).status === "fail") return "libseccomp does not load (see its line)";
  return failed(f.sandbox);
}

export function checkKernel(f: HostFacts): CheckResult {
  const name = "kernel";
  const m = /^(\d+)\.(\d+)/.exec(f.kernelRelease);
  if (!m) return { name, status: "warn", detail: "cannot read the kernel version" };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor < MIN_KERNEL[1])) {
    return {
      name,
      status: "fail",
      detail: `Linux ${f.kernelRelease}: nsbuild needs ${MIN_KERNEL.join(".")} or newer ` +
        "(overlayfs in user namespaces, mount_setattr)",
      fix: "upgrade the kernel (Debian 12 and Ubuntu 22.04 or later ship one)",
    };
  }
  return { name, status: "ok", detail: `Linux ${f.kernelRelease}` };
}

export function checkUserNamespaces(f: HostFacts): CheckResult {
  const name = "user namespaces";
  const { maxUserNamespaces: max, unprivilegedUsernsClone: clone, apparmorRestrict } = f.sysctl;
  const settings = [`max_user_namespaces=${max ?? "unknown"}`];
  if (clone !== undefined) settings.push(`unprivileged_userns_clone=${clone}`);
  if (apparmorRestrict !== undefined) {
    settings.push(`apparmor_restrict_unprivileged_userns=${apparmorRestrict}`);
  }
  const said = settings.join(", ");
  const stage = sandboxStage(f.sandbox);
  const user = f.uid !== 0;
  if (max === "0") {
    return {
      name,
      status: "fail",
      detail: `${said}: user namespaces are disabled`,
      fix: "`sudo sysctl -w user.max_user_namespaces=15000` (and the same line in /etc/sysctl.d/ " +
        "to keep it)",
    };
  }
  if (user && clone === "0") {
    return {
      name,
      status: "fail",
      detail: `${said}: unprivileged user namespaces are disabled`,
      fix: "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (and the same line in " +
        "/etc/sysctl.d/ to keep it)",
    };
  }
  if (user && apparmorRestrict === "1" && stage !== "ok") {
    return {
      name,
      status: "fail",
      detail: `${said}: AppArmor denies unprivileged user namespaces their capabilities`,
      fix: "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, and to keep it " +
        "`echo kernel.apparmor_restrict_unprivileged_userns=0 | sudo tee " +
        "/etc/sysctl.d/60-nsbuild-userns.conf` (or an AppArmor profile for deno with the " +
        "`userns,` rule)",
    };
  }
  if (stage === "namespaces") {
    return {
      name,
      status: "fail",
      detail: `${said}, yet the kernel refused: ${failed(f.sandbox)}`,
      fix: "see the container line; otherwise look for an LSM denial in `sudo dmesg`",
    };
  }
  if (stage === "untried") {
    return { name, status: "warn", detail: `${said}; not tried: ${untried(f)}` };
  }
  const allowed = user && apparmorRestrict === "1" ? " (an AppArmor profile allows them)" : "";
  return { name, status: "ok", detail: `${said}; a sandbox created one${allowed}` };
}

const HELPER_CAP = { newuidmap: "cap_setuid", newgidmap: "cap_setgid" } as const;

export function checkIdHelpers(f: HostFacts): CheckResult {
  const name = "newuidmap/newgidmap";
  if (f.uid === 0) {
    return { name, status: "ok", detail: "not needed: root writes the id maps itself" };
  }
  const stage = sandboxStage(f.sandbox);
  const mapsWorked = stage !== "idmap" && stage !== "namespaces" && stage !== "untried";
  const said: string[] = [];
  const fixes: string[] = [];
  let status: Status = "ok";
  for (const helper of ["newuidmap", "newgidmap"] as const) {
    const fact = f.helpers[helper];
    if (!fact) {
      said.push(`${helper} is missing`);
      fixes.push("`sudo apt-get install uidmap`");
      status = "fail";
      continue;
    }
    const cap = HELPER_CAP[helper];
    if ((fact.mode & 0o4000) !== 0 && fact.uid === 0) said.push(`${fact.path} is setuid root`);
    else if (fact.caps?.includes(cap)) said.push(`${fact.path} has ${cap}`);
    else if (fact.caps === undefined && mapsWorked) {
      said.push(`${fact.path} is not setuid (file capabilities unknown; the id maps worked)`);
    } else {
      said.push(`${fact.path} is neither setuid root nor has ${cap}`);
      fixes.push(`\`sudo chmod u+s ${fact.path}\` (or \`sudo setcap ${cap}+ep ${fact.path}\`)`);
      if (status === "ok") status = fact.caps === undefined ? "warn" : "fail";
    }
  }
  if (stage === "idmap") {
    said.push(`the id maps failed: ${failed(f.sandbox)}`);
    status = "fail";
  }
  const result: CheckResult = { name, status, detail: said.join("; ") };
  if (fixes.length) result.fix = [...new Set(fixes)].join("; ");
  else if (stage === "idmap") result.fix = "check the subordinate ids line";
  return result;
}

function rangeText(r: SubidRange): string {
  return `${r.start}-${r.start + r.count - 1}`;
}

/** A range of 65536 ids above every range in either file, for `usermod`. */
export function freeRange(subuid: string, subgid: string): SubidRange {
  let start = 100000;
  for (const line of `${subuid}\n${subgid}`.split("\n")) {
    const [, from, count] = line.trim().split(":");
    if (/^\d+$/.test(from ?? "") && /^\d+$/.test(count ?? "")) {
      start = Math.max(start, Number(from) + Number(count));
    }
  }
  return { start, count: MAX_SUBORDINATE };
}

export function checkSubordinateIds(f: HostFacts): CheckResult {
  const name = "subordinate ids";
  const who = { uid: f.uid, gid: f.gid, user: f.user };
  const uids = parseSubids(f.subuid, who), gids = parseSubids(f.subgid, who);
  if (f.uid === 0) {
    const own = uids.find((r) => r.start > 0);
    return {
      name,
      status: "ok",
      detail: own
        ? `root maps its own range, uids ${rangeText(own)}`
        : `root has no range: the sandbox maps host ids ${rangeText(ROOT_DEFAULT_RANGE)}`,
    };
  }
  const login = f.user ?? String(f.uid);
  const [uid, gid] = [uids[0], gids[0]];
  if (!uid || !gid) {
    const missing = [uid ? "" : "/etc/subuid", gid ? "" : "/etc/subgid"].filter(Boolean);
    const free = rangeText(freeRange(f.subuid, f.subgid));
    return {
      name,
      status: "fail",
      detail: `none for user ${login} in ${missing.join(" and ")}: only root is mapped inside, ` +
        "so chown to other ids fails",
      fix: `sudo usermod --add-subuids ${free} --add-subgids ${free} ${login}`,
    };
  }
  const detail = `${login}: uids ${rangeText(uid)}, gids ${rangeText(gid)}`;
  const small = Math.min(uid.count, gid.count);
  if (small < MAX_SUBORDINATE) {
    const free = rangeText(freeRange(f.subuid, f.subgid));
    return {
      name,
      status: "warn",
      detail: `${detail}: fewer than ${MAX_SUBORDINATE} ids, so ids above ${small} inside ` +
        "are unmapped",
      fix: `sudo usermod --add-subuids ${free} --add-subgids ${free} ${login}`,
    };
  }
  return { name, status: "ok", detail };
}

/** The container nsbuild runs in, from cheap evidence, or undefined. */
export function detectContainer(c: HostFacts["container"]): string | undefined {
  if (c.detectVirt && c.detectVirt !== "none") return c.detectVirt;
  if (c.dockerenv) return "docker";
  if (c.containerenv) return "podman";
  if (/\/kubepods/.test(c.proc1Cgroup)) return "kubernetes";
  if (/\/docker[/-]/.test(c.proc1Cgroup)) return "docker";
  if (/libpod/.test(c.proc1Cgroup)) return "podman";
  if (/\/lxc[/.]/.test(c.proc1Cgroup)) return "lxc";
  return undefined;
}

export function checkContainer(f: HostFacts): CheckResult {
  const name = "container";
  const kind = detectContainer(f.container);
  if (!kind) {
    return { name, status: "ok", detail: "not inside a container" };
  }
  const filter = f.container.seccompMode === 2;
  const stage = sandboxStage(f.sandbox);
  const inside = `inside ${kind} (seccomp filter: ${filter ? "yes" : "none"})`;
  if (stage === "namespaces" && filter) {
    return {
      name,
      status: "fail",
      detail: `${inside} whose profile blocks namespaces: ${failed(f.sandbox)}`,
      fix: "start the container with `--security-opt seccomp=unconfined` (or a profile that " +
        "allows clone, unshare and setns with CLONE_NEWUSER), or run nsbuild on the host",
    };
  }
  if (stage === "proc") {
    return {
      name,
      status: "fail",
      detail: `${inside}, whose masked /proc keeps a fresh one from mounting: ${failed(f.sandbox)}`,
      fix: "start the container with `--security-opt systempaths=unconfined` (or an unmasked " +
        "/proc), or run nsbuild on the host",
    };
  }
  if (stage === "namespaces") {
    return {
      name,
      status: "warn",
      detail: `${inside}; namespaces were refused, but not by a seccomp filter`,
    };
  }
  if (stage === "ok") {
    return { name, status: "ok", detail: `${inside}; it lets a sandbox start` };
  }
  if (stage === "untried") {
    return { name, status: "warn", detail: `${inside}; not tried: ${untried(f)}` };
  }
  return { name, status: "warn", detail: `${inside}; the sandbox failed (see the overlayfs line)` };
}

export function checkOverlay(f: HostFacts): CheckResult {
  const name = "overlayfs in a user namespace";
  const stage = sandboxStage(f.sandbox);
  const where = f.store.root
    ? ` in ${f.store.root}${f.store.fstype ? ` (${f.store.fstype})` : ""}`
    : "";
  switch (stage) {
    case "ok":
    case "proc":
      return {
        name,
        status: "ok",
        detail:
          `a sandbox mounted the host's /usr under an overlay with its upper directory${where}`,
      };
    case "overlay":
      return {
        name,
        status: "fail",
        detail: `${failed(f.sandbox)} (upper directory${where})`,
        fix: "put the store on ext4, xfs or btrfs (tmpfs needs Linux 6.6+): set NSBUILD_HOME to " +
          "a directory there",
      };
    case "other":
      return {
        name,
        status: "fail",
        detail: `the probe sandbox failed: ${failed(f.sandbox)}`,
        fix: (f.sandbox.ok ? undefined : f.sandbox.hint) ?? "see `nsbuild run` in README.md",
      };
    default:
      return {
        name,
        status: "warn",
        detail: stage === "untried"
          ? `not tried: ${untried(f)}`
          : "not tried: the sandbox stopped before the overlay (see the lines above)",
      };
  }
}

export function checkCgroup(f: HostFacts): CheckResult {
  const name = "cgroup v2 delegation";
  const { rootType, path, dirUid } = f.cgroup;
  const note = "builds run without it; only limits on a build's memory or processes need it";
  if (rootType !== "cgroup2") {
    return {
      name,
      status: "warn",
      detail: rootType === undefined
        ? `no cgroup file system on /sys/fs/cgroup: ${note}`
        : `cgroup v1 or hybrid (${rootType} on /sys/fs/cgroup), not a unified v2: ${note}`,
      fix: "boot with systemd.unified_cgroup_hierarchy=1",
    };
  }
  if (f.uid === 0 || dirUid === f.uid) {
    return { name, status: "ok", detail: `cgroup v2; ${path ?? "this cgroup"} is yours to manage` };
  }
  return {
    name,
    status: "warn",
    detail: `cgroup v2, but ${path ?? "this cgroup"} is not delegated to you: ${note}`,
    fix: "run nsbuild under `systemd-run --user --scope -p Delegate=yes`",
  };
}

export function checkMmdebstrap(f: HostFacts): CheckResult {
  const name = "mmdebstrap";
  if (!f.mmdebstrap) {
    return {
      name,
      status: "warn",
      detail: "missing: `debian:` bases cannot be bootstrapped (tarball and directory bases work)",
      fix: "sudo apt-get install mmdebstrap",
    };
  }
  const version = f.mmdebstrap.version ? ` (${f.mmdebstrap.version})` : "";
  return { name, status: "ok", detail: `${f.mmdebstrap.path}${version}` };
}

export function checkExecutor(f: HostFacts): CheckResult {
  const name = "executor";
  const { path, present, abi, error, expectedAbi, explicit } = f.executor;
  const fix = explicit
    ? "point NSBUILD_EXECUTOR at a libnsbuild_executor.so built by `deno task setup`, or unset it"
    : "run `deno task setup` in the nsbuild checkout";
  if (!present) return { name, status: "fail", detail: `${path} is missing`, fix };
  if (error) return { name, status: "fail", detail: `${path} cannot be loaded: ${error}`, fix };
  if (abi !== expectedAbi) {
    return {
      name,
      status: "fail",
      detail: `${path} speaks ABI ${abi}, nsbuild expects ${expectedAbi}`,
      fix,
    };
  }
  return { name, status: "ok", detail: `${path} (ABI ${abi})` };
}

export function checkLibseccomp(f: HostFacts): CheckResult {
  const name = "libseccomp";
  const { paths, version, loadError } = f.libseccomp;
  const path = paths[0];
  if (version !== undefined) {
    return { name, status: "ok", detail: `${path ?? "libseccomp.so.2"} (version ${version})` };
  }
  if (!path) {
    return {
      name,
      status: "fail",
      detail: `libseccomp.so.2 not found${loadError ? ` (${loadError})` : ""}: nsbuild needs it ` +
        "for its default seccomp filter",
      fix: "sudo apt-get install libseccomp2",
    };
  }
  if (loadError) {
    return {
      name,
      status: "fail",
      detail: `${path} cannot be loaded: ${loadError}`,
      fix: "sudo apt-get install --reinstall libseccomp2",
    };
  }
  // Found, but this process may not load it (FFI allowed only for the executor).
  return { name, status: "ok", detail: path };
}

export function checkStore(f: HostFacts): CheckResult {
  const name = "store";
  const { root, writable, error, fstype, availBytes } = f.store;
  if (!root) {
    return { name, status: "fail", detail: error ?? "no store", fix: "set NSBUILD_HOME" };
  }
  if (!writable) {
    return {
      name,
      status: "fail",
      detail: `${root} is not writable: ${error ?? "unknown error"}`,
      fix: "set NSBUILD_HOME to a directory you can write",
    };
  }
  if (availBytes === undefined) {
    return { name, status: "warn", detail: `${root}: free space unknown (df failed)` };
  }
  const detail = `${root} (${fstype}, ${formatBytes(availBytes)} free)`;
  if (availBytes < LOW_SPACE_BYTES) {
    return {
      name,
      status: "warn",
      detail: `${detail}: under ${
        formatBytes(LOW_SPACE_BYTES)
      }, a Debian base and a build may not fit`,
      fix: "`nsbuild cache prune`, free space there, or set NSBUILD_HOME elsewhere",
    };
  }
  return { name, status: "ok", detail };
}

export const CHECKS = [
  checkKernel,
  checkUserNamespaces,
  checkIdHelpers,
  checkSubordinateIds,
  checkContainer,
  checkOverlay,
  checkCgroup,
  checkMmdebstrap,
  checkExecutor,
  checkLibseccomp,
  checkStore,
];

export function runChecks(f: HostFacts): CheckResult[] {
  return CHECKS.map((check) => check(f));
}

/** `ok    name: detail`, `FAIL  name: detail — fix: ...`. */
export function formatResult(r: CheckResult): string {
  const label = { ok: "ok", warn: "WARN", fail: "FAIL" }[r.status].padEnd(6);
  return `${label}${r.name}: ${r.detail}${r.fix ? ` — fix: ${r.fix}` : ""}`;
}

/** 0 when nothing failed (warnings allowed), 1 otherwise. */
export function exitStatus(results: CheckResult[]): number {
  return results.some((r) => r.status === "fail") ? 1 : 0;
}
