/**
 * `deno task setup`: checks the prerequisites and builds the C executor with
 * the system compiler, warnings as errors. Rebuilds only when a source is
 * newer than the library. Says what is missing and how to install it.
 */
import { join } from "node:path";
import { findProgram, searchDirs } from "../util/which.ts";

const root = new URL("../../", import.meta.url).pathname;
const ffi = join(root, "ffi");
const out = join(ffi, "build", "libnsbuild_executor.so");
export const CFLAGS = [
  "-std=c11",
  "-O2",
  "-g",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-fPIC",
  "-shared",
  "-fno-strict-aliasing",
];

/**
 * bin/nsbuild runs a bundle of the CLI, split into chunks at its dynamic
 * imports, when it is newer than every source file: loading a few chunks
 * instead of some 25 modules saves `nsbuild run` about 10 ms of start-up.
 * (One file with everything in it is slower than the sources: it loads
 * the code of every command, Node's compatibility layer included.)
 */
const BUNDLE_DIR = join(root, "dist", "cli");

async function bundleCli(): Promise<void> {
  const tsFiles: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) walk(join(dir, e.name));
      else if (e.name.endsWith(".ts")) tsFiles.push(join(dir, e.name));
    }
  };
  walk(join(root, "src"));
  const entry = join(BUNDLE_DIR, "main.js");
  if (mtime(entry) > Math.max(...tsFiles.map(mtime)) && !Deno.args.includes("--force")) return;
  const tmp = `${BUNDLE_DIR}.tmp-${Deno.pid}`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--no-config",
      "--no-lock",
      "--code-splitting",
      "--outdir",
      tmp,
      join(root, "src", "cli", "main.ts"),
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!result.success) {
    Deno.removeSync(tmp, { recursive: true });
    console.error("nsbuild setup: bundling the CLI failed; bin/nsbuild will run from source");
    return;
  }
  // Swapped in whole: bin/nsbuild never sees chunks of two builds at once.
  const old = `${BUNDLE_DIR}.old-${Deno.pid}`;
  try {
    Deno.renameSync(BUNDLE_DIR, old);
  } catch {
    // No bundle yet.
  }
  Deno.renameSync(tmp, BUNDLE_DIR);
  // And the one-file bundle of earlier versions.
  for (const stale of [old, join(root, "dist", "nsbuild.js")]) {
    try {
      Deno.removeSync(stale, { recursive: true });
    } catch {
      // Not there.
    }
  }
}

function mtime(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

const sources = [...Deno.readDirSync(ffi)]
  .filter((e) => e.isFile && (e.name.endsWith(".c") || e.name.endsWith(".h")))
  .map((e) => join(ffi, e.name))
  .sort();

const missing: string[] = [];
const cc = Deno.env.get("CC") ?? findProgram("cc", searchDirs()) ??
  findProgram("gcc", searchDirs());
if (!cc) missing.push("a C compiler (sudo apt-get install gcc)");
for (const helper of ["newuidmap", "newgidmap"]) {
  if (!findProgram(helper)) missing.push(`${helper} (sudo apt-get install uidmap)`);
}
if (missing.length) {
  console.error(`nsbuild setup: missing prerequisites:\n  ${missing.join("\n  ")}`);
  Deno.exit(1);
}

await bundleCli();
const newest = Math.max(...sources.map(mtime));
if (mtime(out) > newest && !Deno.args.includes("--force")) {
  Deno.exit(0);
}
Deno.mkdirSync(join(ffi, "build"), { recursive: true });
const tmp = `${out}.tmp-${Deno.pid}`;
const args = [...CFLAGS, "-o", tmp, ...sources.filter((s) => s.endsWith(".c"))];
const result = await new Deno.Command(cc!, { args, stdout: "inherit", stderr: "inherit" }).output();
if (!result.success) {
  try {
    Deno.removeSync(tmp);
  } catch { /* nothing was written */ }
  console.error(`nsbuild setup: compiling the executor failed (${cc} ${args.join(" ")})`);
  Deno.exit(1);
}
Deno.renameSync(tmp, out);
console.error(`nsbuild setup: built ${out}`);
