/**
 * Writes a sandbox's id maps: newuidmap/newgidmap for an ordinary user (run
 * by the executor with posix_spawn, in parallel: cheaper than two
 * Deno.Command spawns), or /proc/PID/*_map directly for root and single maps.
 */
import { helperArgs, type IdMapPlan, mapText } from "./idmap.ts";
import { SandboxError } from "./errors.ts";
import { ERRNO } from "./errno.ts";
import type { Executor } from "./executor.ts";
import { findProgram } from "../util/which.ts";

const HELPERS = ["newuidmap", "newgidmap"] as const;

function helperPath(name: string): string {
  const path = findProgram(name);
  if (path) return path;
  throw new SandboxError(
    "writing the id maps",
    name,
    undefined,
    ERRNO.ENOENT,
    `${name} is not installed: install the uidmap package (sudo apt-get install uidmap); ` +
      "run `nsbuild doctor`",
  );
}

export function applyIdMaps(pid: number, plan: IdMapPlan, executor: Executor): void {
  if (plan.writer === "helpers") {
    const paths = [helperPath(HELPERS[0]), helperPath(HELPERS[1])] as const;
    const rc = executor.runHelpers(pid, [
      { path: paths[0], args: helperArgs(pid, plan.uidMap).slice(1) },
      { path: paths[1], args: helperArgs(pid, plan.gidMap).slice(1) },
    ]);
    if (rc === 0) return;
    const failed = rc < 0 ? 0 : (rc >> 8) - 1;
    const name = HELPERS[failed] ?? "newuidmap";
    throw new SandboxError(
      "writing the id maps",
      name,
      `/proc/${pid}`,
      rc < 0 ? -rc : ERRNO.EPERM,
      `${name} ${
        rc < 0 ? "could not be started" : `exited with status ${rc & 0xff}`
      }: check that ` +
        `${paths[failed]} is setuid root (or has cap_setuid) and that the ranges for you in ` +
        "/etc/subuid and /etc/subgid are yours; run `nsbuild doctor`",
    );
  }
  const uidText = mapText(plan.uidMap), gidText = mapText(plan.gidMap);
  const rc = executor.writeMaps(pid, uidText, gidText, plan.setgroups === "deny");
  if (rc === 0) return;
  const step = (-rc) >> 16, errno = (-rc) & 0xffff;
  const file = ["setgroups", "uid_map", "gid_map"][step - 1] ?? "uid_map";
  const text = step === 1 ? "deny" : step === 2 ? uidText : gidText;
  throw new SandboxError(
    "writing the id maps",
    "write",
    `/proc/${pid}/${file}`,
    errno,
    `the kernel refused ${JSON.stringify(text.trim())}: a map may name only ids the writer ` +
      "holds (root may name any); run `nsbuild doctor`",
  );
}
