/**
 * The two path operations the start-up path needs. Written here rather than
 * imported from node:path because the first node: import costs about 13 ms
 * of Deno start-up (measured with hyperfine), and the CLI must start within
 * 20 ms of Deno itself.
 */

/** Joins path parts with single slashes. */
export function joinPath(...parts: string[]): string {
  return normalizePath(parts.filter((p) => p !== "").join("/"));
}

/** Collapses ".", ".." and repeated slashes; keeps a path relative if it was. */
export function normalizePath(path: string): string {
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  return absolute ? `/${joined}` : joined || ".";
}

/** An absolute, normalized path, relative ones taken from the working directory. */
export function absolutePath(path: string, cwd: string = Deno.cwd()): string {
  return normalizePath(path.startsWith("/") ? path : `${cwd}/${path}`);
}
