/** Finding programs on the host. */

/** Where system programs live, whatever the caller's PATH says. */
export const SYSTEM_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/**
 * The first executable file named `name` in `dirs`. Setuid helpers such as
 * newuidmap are looked up in SYSTEM_DIRS only, never through PATH.
 */
export function findProgram(name: string, dirs: string[] = SYSTEM_DIRS): string | undefined {
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

/** PATH first, then the system directories: for build and benchmark tools. */
export function searchDirs(): string[] {
  return [...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""), ...SYSTEM_DIRS];
}
