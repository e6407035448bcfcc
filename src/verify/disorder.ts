/**
 * Directory views for `nsbuild verify`: read-only disorderfs mounts (FUSE,
 * as the calling user) that show a directory with its entries in stored
 * order or reversed. Both builds read the sources through a view at the
 * same path, so nothing but the order differs between them.
 */
import { findProgram } from "../util/which.ts";

export interface DisorderTools {
  disorderfs: string;
  fusermount: string;
}

/** The tools, or why views cannot be mounted here (with the fix). */
export function disorderTools(): DisorderTools | { reason: string } {
  const disorderfs = findProgram("disorderfs");
  if (!disorderfs) {
    return { reason: "disorderfs not installed; apt-get install disorderfs fuse3" };
  }
  const fusermount = findProgram("fusermount3") ?? findProgram("fusermount");
  if (!fusermount) return { reason: "fusermount not installed; apt-get install fuse3" };
  // Whether FUSE is open to this user shows when the first view is mounted.
  return { disorderfs, fusermount };
}

export class ViewError extends Error {
  override name = "ViewError";
}

function firstLine(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes).trim().split("\n").filter((l) => l.trim())[0] ?? "";
}

function deviceOf(path: string): number | null {
  return Deno.statSync(path).dev;
}

/** Mounts a read-only view of `source` at `mountpoint` (an empty directory). */
export async function mountView(
  tools: DisorderTools,
  source: string,
  mountpoint: string,
  reverse: boolean,
): Promise<void> {
  const before = deviceOf(mountpoint);
  const out = await new Deno.Command(tools.disorderfs, {
    args: [
      "--quiet",
      `--reverse-dirents=${reverse ? "yes" : "no"}`,
      "--shuffle-dirents=no",
      "--sort-dirents=no",
      "--multi-user=no",
      "-o",
      "ro",
      source,
      mountpoint,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const why = firstLine(out.stderr) || firstLine(out.stdout) || `exit status ${out.code}`;
    const fix = /\/dev\/fuse.*(?:permission denied|EACCES)/i.test(why)
      ? " (udev normally makes /dev/fuse mode 0666: chmod 0666 /dev/fuse)"
      : /\/dev\/fuse/.test(why)
      ? " (load the fuse module: modprobe fuse)"
      : "";
    throw new ViewError(`disorderfs could not mount a view of ${source}: ${why}${fix}`);
  }
  if (deviceOf(mountpoint) === before) {
    throw new ViewError(`disorderfs exited but ${mountpoint} is not a mount`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Unmounts a view. A view still busy (a process of an interrupted build
 * about to exit) is retried for a while, then detached lazily.
 */
export async function unmountView(tools: DisorderTools, mountpoint: string): Promise<void> {
  let why = "";
  for (let attempt = 0; attempt < 20; attempt++) {
    const out = await new Deno.Command(tools.fusermount, {
      args: ["-u", "-q", "--", mountpoint],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.success) return;
    why = firstLine(out.stderr);
    if (!/busy/i.test(why)) break;
    await sleep(100);
  }
  const lazy = await new Deno.Command(tools.fusermount, {
    args: ["-u", "-z", "-q", "--", mountpoint],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!lazy.success) {
    throw new ViewError(
      `could not unmount the view at ${mountpoint}: ${firstLine(lazy.stderr) || why}`,
    );
  }
}
