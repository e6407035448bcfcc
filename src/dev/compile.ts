/**
 * `deno task compile`: builds dist/nsbuild, one executable with the C
 * executor embedded (loaded from a memfd at run time, see
 * src/sandbox/executor_ffi.ts). Deno needs its `denort` runtime for this and
 * downloads it at compile time; where that cannot be fetched, it must be
 * given with DENORT_BIN, and this task says so instead of failing obscurely.
 */
import { joinPath } from "../util/path.ts";

const root = new URL("../../", import.meta.url).pathname;
const lib = joinPath(root, "ffi", "build", "libnsbuild_executor.so");
const out = joinPath(root, "dist", "nsbuild");

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Where Deno keeps a denort it downloaded before, if it ever did. */
function cachedDenort(): string | undefined {
  const home = Deno.env.get("HOME") ?? "";
  const denoDir = Deno.env.get("DENO_DIR") ?? joinPath(home, ".cache", "deno");
  const dir = joinPath(denoDir, "dl", "release", `v${Deno.version.deno}`);
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.startsWith("denort")) return joinPath(dir, e.name);
    }
  } catch { /* never downloaded */ }
  return undefined;
}

const denort = Deno.env.get("DENORT_BIN");
if (denort && !isFile(denort)) {
  console.error(`nsbuild compile: DENORT_BIN=${denort} is not a file`);
  Deno.exit(1);
}
if (!denort && !cachedDenort()) {
  console.error(
    `nsbuild compile: cannot build dist/nsbuild here: \`deno compile\` needs the denort runtime of ` +
      `Deno ${Deno.version.deno}, which it downloads at compile time from Deno's release host, ` +
      "and this machine cannot reach it (only package registries are reachable).\n" +
      `  fix: put denort ${Deno.version.deno} for ${Deno.build.target} on this machine and run ` +
      "`DENORT_BIN=/path/to/denort deno task compile`; meanwhile bin/nsbuild runs nsbuild from " +
      "this checkout.",
  );
  Deno.exit(1);
}
if (!isFile(lib)) {
  console.error(`nsbuild compile: ${lib} is missing: run \`deno task setup\` first`);
  Deno.exit(1);
}
Deno.mkdirSync(joinPath(root, "dist"), { recursive: true });
const args = [
  "compile",
  "--no-config",
  "--no-lock",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=uid,gid",
  "--allow-ffi",
  "--include",
  lib,
  "-o",
  out,
  joinPath(root, "src", "cli", "main.ts"),
];
const result = await new Deno.Command(Deno.execPath(), {
  args,
  stdout: "inherit",
  stderr: "inherit",
})
  .output();
if (!result.success) {
  console.error("nsbuild compile: deno compile failed (see above)");
  Deno.exit(1);
}
console.error(`nsbuild compile: built ${out}`);
