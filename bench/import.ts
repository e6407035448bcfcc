/**
 * Base import against GNU tar, from one run on one machine, reported as
 * ratios. Run it as an unprivileged user with subordinate ids (what users
 * run):
 *
 *   ./node_modules/.bin/deno run --allow-all bench/import.ts [TARBALL]
 *
 * TARBALL defaults to /tmp/minbase.tar.zst (an mmdebstrap bookworm minbase).
 *
 *   import:    GNU tar alone unpacking the tarball in a user namespace with
 *              the same id map nsbuild uses, against `nsbuild base pull
 *              tar:TARBALL` into a fresh store; alternating, median of a few
 *              (target <= 1.2x), both writing to $TMPDIR (else /tmp)
 *   cache hit: `nsbuild base pull` of a reference already in the store, as a
 *              whole process (hyperfine, against Deno's own start-up) and as
 *              resolveBase() in one process (target <= 50 ms)
 *
 * The baseline is `unshare --map-root-user --map-users=SUBUID,1,N
 * --map-groups=SUBGID,1,N tar -x --numeric-owner -f TARBALL -C DIR`:
 * util-linux 2.38's unshare writes both ranges with newuidmap/newgidmap, so
 * the map is nsbuild's (0 = the user, 1..N = the subordinate ids) and tar
 * chowns to the archive's owners as nsbuild's tar does. (`-r --map-auto`
 * maps one id fewer, 65535; plain `-r` maps only root, so tar could not
 * chown at all.) GNU tar finds the decompressor by magic and runs
 * it as nsbuild does. Device nodes cannot be made in a user namespace: tar
 * tries and fails on each (exit status 2, which is accepted when mknod is
 * all it complains of); nsbuild drops them before tar sees them.
 */
import { join } from "node:path";
import { NSBUILD_BIN } from "../tests/helpers/rootfs.ts";
import { findProgram, searchDirs } from "../src/util/which.ts";
import { parseBaseRef } from "../src/base/ref.ts";
import { resolveBase } from "../src/base/resolve.ts";
import { hostDebianArch } from "../src/base/arch.ts";
import { storeLayout } from "../src/store/layout.ts";
import { loadExecutor } from "../src/sandbox/executor_ffi.ts";

const REPEATS = 7;
const HIT_RUNS = 40;
const IN_PROCESS_HITS = 2000;

const tarball = Deno.args[0] ?? "/tmp/minbase.tar.zst";
if (Deno.uid() === 0) {
  console.error(
    "bench: run it as an unprivileged user with subordinate ids (what users run), " +
      "e.g. su nsb -c './node_modules/.bin/deno run --allow-all bench/import.ts'",
  );
  Deno.exit(1);
}
try {
  Deno.statSync(tarball);
} catch (e) {
  console.error(`bench: cannot read ${tarball}: ${(e as Error).message}`);
  Deno.exit(1);
}
const missing = ["unshare", "tar", "newuidmap"].filter((n) => !findProgram(n, searchDirs()));
if (missing.length) {
  console.error(`bench: missing ${missing.join(", ")}: sudo apt-get install util-linux tar uidmap`);
  Deno.exit(1);
}

/** This user's first range in /etc/subuid or /etc/subgid, at most 65536 ids as nsbuild maps. */
function subordinate(file: string): { start: number; count: number } {
  const uid = Deno.uid()!;
  const passwd = Deno.readTextFileSync("/etc/passwd");
  const user = passwd.split("\n").map((l) => l.split(":")).find((f) => f[2] === String(uid))?.[0];
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if ((owner === user || owner === String(uid)) && Number(count) > 0) {
      return { start: Number(start), count: Math.min(Number(count), 65536) };
    }
  }
  console.error(`bench: no range for uid ${uid} in ${file}: usermod --add-subuids/--add-subgids`);
  Deno.exit(1);
}

const subuid = subordinate("/etc/subuid");
const subgid = subordinate("/etc/subgid");
/** `unshare` with nsbuild's map: root is the user, 1..N the subordinate ids. */
const UNSHARE = [
  "unshare",
  "--map-root-user",
  `--map-users=${subuid.start},1,${subuid.count}`,
  `--map-groups=${subgid.start},1,${subgid.count}`,
];

const decoder = new TextDecoder();

async function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function fail(what: string, r: { code: number; stderr: string }): never {
  console.error(`bench: ${what} failed with status ${r.code}:\n${r.stderr}`);
  Deno.exit(1);
}

/**
 * Where the stores and GNU tar's targets go: $TMPDIR, else /tmp. (Not
 * /dev/shm: Deno asks for --allow-all to write below /dev, which
 * bin/nsbuild does not grant.)
 */
const place = Deno.env.get("TMPDIR") || "/tmp";

/** Removes a tree whose files belong to subordinate ids, from inside the namespace. */
async function removeMapped(dir: string): Promise<void> {
  const r = await run([...UNSHARE, "rm", "-rf", "--one-file-system", "--", dir]);
  if (r.code !== 0) fail(`removing ${dir}`, r);
}

/** Empties a store with `nsbuild cache prune --all`, then removes it. */
async function removeStore(home: string): Promise<void> {
  const r = await run([NSBUILD_BIN, "cache", "prune", "--all"], { NSBUILD_HOME: home });
  if (r.code !== 0) fail(`nsbuild cache prune --all in ${home}`, r);
  Deno.removeSync(home, { recursive: true });
}

/** Writes back what earlier rounds left dirty, so that no round pays for another. */
async function settle(): Promise<void> {
  await run(["sync"]);
}

let round = 0;

async function gnuTar(scratch: string): Promise<number> {
  const dir = join(scratch, `tar-${round++}`);
  Deno.mkdirSync(dir);
  await settle();
  const t0 = performance.now();
  const r = await run([...UNSHARE, "tar", "-x", "--numeric-owner", "-f", tarball, "-C", dir]);
  const ms = performance.now() - t0;
  const complaints = r.stderr.split("\n").filter((l) =>
    l.trim() && !/Cannot mknod|Exiting with failure status due to previous errors/.test(l)
  );
  if (r.code !== 0 && !(r.code === 2 && complaints.length === 0)) fail("GNU tar", r);
  await removeMapped(dir);
  return ms;
}

async function nsbuildPull(scratch: string): Promise<number> {
  const home = join(scratch, `store-${round++}`);
  await settle();
  const t0 = performance.now();
  const r = await run([NSBUILD_BIN, "base", "pull", `tar:${tarball}`], { NSBUILD_HOME: home });
  const ms = performance.now() - t0;
  if (r.code !== 0) fail("nsbuild base pull", r);
  await removeStore(home);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Both importers, alternating in both orders so that drift hits both alike. */
async function importRounds(place: string): Promise<{ tar: number[]; pull: number[] }> {
  const scratch = Deno.makeTempDirSync({ dir: place, prefix: "nsbuild-bench-import-" });
  // One of each first: the page cache then holds the tarball for both.
  await gnuTar(scratch);
  await nsbuildPull(scratch);
  const tar: number[] = [];
  const pull: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    if (i % 2 === 0) {
      tar.push(await gnuTar(scratch));
      pull.push(await nsbuildPull(scratch));
    } else {
      pull.push(await nsbuildPull(scratch));
      tar.push(await gnuTar(scratch));
    }
  }
  Deno.removeSync(scratch, { recursive: true });
  return { tar, pull };
}

const imports = await importRounds(place);

const scratch = Deno.makeTempDirSync({ prefix: "nsbuild-bench-import-" });

// The cache hit: one store holding the base.
const home = join(scratch, "store-hit");
const first = await run([NSBUILD_BIN, "base", "pull", "--json", `tar:${tarball}`], {
  NSBUILD_HOME: home,
});
if (first.code !== 0) fail("nsbuild base pull", first);

let wholeHit: number | undefined;
let denoStart: number | undefined;
if (findProgram("hyperfine", searchDirs())) {
  const empty = join(scratch, "empty.ts");
  Deno.writeTextFileSync(empty, "");
  const json = join(scratch, "hyperfine.json");
  const hf = await new Deno.Command("hyperfine", {
    args: [
      "-N",
      "--warmup",
      "3",
      "--runs",
      String(HIT_RUNS),
      "--export-json",
      json,
      `env NSBUILD_HOME=${home} ${NSBUILD_BIN} base pull tar:${tarball}`,
      `${Deno.execPath()} run --quiet --no-config ${empty}`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!hf.success) {
    console.error("bench: hyperfine failed (see above)");
    Deno.exit(1);
  }
  const results = JSON.parse(Deno.readTextFileSync(json)).results as { median: number }[];
  wholeHit = results[0]!.median * 1000;
  denoStart = results[1]!.median * 1000;
} else {
  const times: number[] = [];
  for (let i = 0; i < HIT_RUNS; i++) {
    const t0 = performance.now();
    const r = await run([NSBUILD_BIN, "base", "pull", `tar:${tarball}`], { NSBUILD_HOME: home });
    times.push(performance.now() - t0);
    if (r.code !== 0) fail("nsbuild base pull (hit)", r);
  }
  wholeHit = median(times);
}

const ref = parseBaseRef(`tar:${tarball}`);
const ctx = {
  layout: storeLayout(home),
  executor: loadExecutor,
  arch: hostDebianArch(),
};
const hits: number[] = [];
for (let i = 0; i < IN_PROCESS_HITS; i++) {
  const t0 = performance.now();
  const resolved = await resolveBase(ref, ctx);
  hits.push(performance.now() - t0);
  if (resolved.imported) {
    console.error("bench: resolveBase() imported the base again instead of a cache hit");
    Deno.exit(1);
  }
}
await removeStore(home);
Deno.removeSync(scratch, { recursive: true });

// bin/nsbuild runs the bundle unless a source file is newer (then it starts slower).
const srcRoot = new URL("../src", import.meta.url).pathname;
const bundle = new URL("../dist/cli/main.js", import.meta.url).pathname;
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts")) {
      newest = Math.max(newest, Deno.statSync(path).mtime?.getTime() ?? 0);
    }
  }
  return newest;
}
let runs = "sources (dist/cli/ is missing or older: `deno task setup` makes it)";
try {
  if ((Deno.statSync(bundle).mtime?.getTime() ?? 0) > newestSource(srcRoot)) {
    runs = "the bundle in dist/cli/";
  }
} catch {
  // No bundle.
}

const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 0)} ms`.padStart(10);
const size = Deno.statSync(tarball).size;
console.log(
  `nsbuild import bench: ${tarball} (${(size / 1e6).toFixed(0)} MB), ${Deno.build.target}, ` +
    `${navigator.hardwareConcurrency} cores; bin/nsbuild runs ${runs}`,
);
const range = (values: number[]) =>
  `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)} ms`;
const tar = median(imports.tar), pull = median(imports.pull);
console.log(`import into ${place}, median of ${REPEATS}, alternating, sync before each:`);
console.log(`  GNU tar in a user namespace      ${fmt(tar)}  (range ${range(imports.tar)})`);
console.log(
  `  nsbuild base pull (fresh store)  ${fmt(pull)}  (range ${range(imports.pull)})  ` +
    `${(pull / tar).toFixed(2)}x GNU tar (target <= 1.2x)`,
);
console.log("cache hit:");
console.log(
  `  nsbuild base pull, whole process ${fmt(wholeHit)}  (${
    denoStart === undefined
      ? `median of ${HIT_RUNS}`
      : `hyperfine -N, median of ${HIT_RUNS}; Deno's own start-up ${fmt(denoStart).trim()}`
  })`,
);
console.log(
  `  resolveBase() in process         ${fmt(median(hits))}  (median of ${IN_PROCESS_HITS}; ` +
    `target <= 50 ms)`,
);
