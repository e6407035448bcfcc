/** Writes a sandbox's id maps: newuidmap/newgidmap, or /proc directly. */
import { helperArgs, type IdMapPlan, mapText } from "./idmap.ts";
import { SandboxError } from "./errors.ts";
import { ERRNO } from "./errno.ts";

const HELPER_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

export function findHelper(name: string): string | undefined {
  for (const dir of HELPER_DIRS) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

async function runHelper(name: string, args: string[]): Promise<void> {
  const path = findHelper(name);
  if (!path) {
    throw new SandboxError(
      "writing the id maps",
      name,
      undefined,
      ERRNO.ENOENT,
      `${name} is not installed: install the uidmap package (sudo apt-get install uidmap)`,
    );
  }
  const out = await new Deno.Command(path, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    const said = new TextDecoder().decode(out.stderr).trim();
    throw new SandboxError(
      "writing the id maps",
      name,
      `/proc/${args[0]}`,
      ERRNO.EPERM,
      `${name} said: ${said || `exit ${out.code}`}; check that ${path} is setuid root ` +
        "(or has cap_setuid) and that the ranges in /etc/subuid and /etc/subgid belong to you",
    );
  }
}

function writeProc(pid: number, file: string, text: string): void {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/${file}`, text);
  } catch (cause) {
    throw new SandboxError(
      "writing the id maps",
      "write",
      `/proc/${pid}/${file}`,
      ERRNO.EPERM,
      `the kernel refused the map ${JSON.stringify(text.trim())}: ${(cause as Error).message}`,
    );
  }
}

export async function applyIdMaps(pid: number, plan: IdMapPlan): Promise<void> {
  if (plan.writer === "helpers") {
    await Promise.all([
      runHelper("newuidmap", helperArgs(pid, plan.uidMap)),
      runHelper("newgidmap", helperArgs(pid, plan.gidMap)),
    ]);
    return;
  }
  if (plan.setgroups === "deny") writeProc(pid, "setgroups", "deny");
  writeProc(pid, "uid_map", mapText(plan.uidMap));
  writeProc(pid, "gid_map", mapText(plan.gidMap));
}
