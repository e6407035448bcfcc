/**
 * `deno task bench`: sandbox start-up against real peers, from one run on
 * one machine, reported as ratios. Run it as an unprivileged user with
 * subordinate ids (what users run), with hyperfine and bwrap installed.
 *
 *   whole process: bin/nsbuild run, bwrap, unshare, and `deno run` of an
 *                  empty file (hyperfine, median of many runs)
 *   in process:    one Deno process running 200 sandboxes in a row, and 200
 *                  with 4 at a time (what build steps pay: each returns at
 *                  its command's status while its monitor cleans up)
 */
import { busyboxRootfs, NSBUILD_BIN } from "../tests/helpers/rootfs.ts";
import { loadExecutor } from "../src/sandbox/executor_ffi.ts";
import { runSandbox, sandboxCleanups, type SandboxRequest } from "../src/sandbox/run.ts";
import { createRunDir } from "../src/store/root.ts";
import { findProgram, searchDirs } from "../src/util/which.ts";

const RUNS = 60;
const IN_PROCESS = 200;

const missing = ["hyperfine", "bwrap", "unshare"].filter((n) => !findProgram(n, searchDirs()));
if (missing.length) {
  console.error(
    `bench: missing ${missing.join(", ")}: sudo apt-get install hyperfine bubblewrap util-linux`,
  );
  Deno.exit(1);
}
if (Deno.uid() === 0) {
  console.error("bench: note: running as root; users run nsbuild unprivileged, so figures differ");
}

const rootfs = await busyboxRootfs();
// bwrap binds the rootfs read-only and needs the mount points to exist.
for (const dir of ["proc", "dev"]) Deno.mkdirSync(`${rootfs}/${dir}`, { recursive: true });
const store = Deno.makeTempDirSync({ prefix: "nsbuild-bench-store-" });
const empty = Deno.makeTempFileSync({ suffix: ".ts" });
const deno = Deno.execPath();

const commands: Record<string, string> = {
  "nsbuild run": `env NSBUILD_HOME=${store} ${NSBUILD_BIN} run --rootfs ${rootfs} -- /bin/true`,
  "bwrap": `bwrap --unshare-all --ro-bind ${rootfs} / --proc /proc --dev /dev /bin/true`,
  "unshare": "unshare -Urmpf --mount-proc true",
  "deno run (empty file)": `${deno} run --quiet --no-config ${empty}`,
};

const json = Deno.makeTempFileSync({ suffix: ".json" });
const hf = await new Deno.Command("hyperfine", {
  args: [
    "-N",
    "--warmup",
    "5",
    "--runs",
    String(RUNS),
    "--export-json",
    json,
    ...Object.values(commands),
  ],
  stdout: "null",
  stderr: "inherit",
}).output();
if (!hf.success) {
  console.error("bench: hyperfine failed (see above)");
  Deno.exit(1);
}
const results = JSON.parse(Deno.readTextFileSync(json)).results as {
  median: number;
  mean: number;
}[];
const median: Record<string, number> = {};
Object.keys(commands).forEach((name, i) => median[name] = results[i]!.median * 1000);

const executor = loadExecutor();
const request = (): SandboxRequest => ({
  rootfs,
  runDir: createRunDir(store),
  binds: [],
  tmpfs: [],
  network: false,
  hostname: "bench",
  env: { PATH: "/bin" },
  cwd: "/",
  argv: ["/bin/true"],
  // As build steps run: the next starts while the last one's monitor cleans up.
  cleanupInBackground: true,
});
async function one(): Promise<void> {
  const result = await runSandbox(request(), executor);
  if (result.status !== 0) {
    throw new Error(`sandbox exited ${result.status}: ${result.error?.message}`);
  }
}
for (let i = 0; i < 5; i++) await one();
let t0 = performance.now();
for (let i = 0; i < IN_PROCESS; i++) await one();
const perSandbox = (performance.now() - t0) / IN_PROCESS;
t0 = performance.now();
let next = 0;
await Promise.all(Array.from({ length: 4 }, async () => {
  while (next++ < IN_PROCESS) await one();
}));
const perSecond = IN_PROCESS / ((performance.now() - t0) / 1000);
await sandboxCleanups();

const bwrap = median["bwrap"]!, denoStart = median["deno run (empty file)"]!;
const cli = median["nsbuild run"]!;
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
console.log(
  `nsbuild bench: busybox rootfs, /bin/true, ${Deno.build.target}, ${navigator.hardwareConcurrency} cores`,
);
console.log(`whole process (hyperfine -N, median of ${RUNS}):`);
for (const [name, ms] of Object.entries(median)) {
  console.log(`  ${name.padEnd(24)} ${fmt(ms).padStart(10)}  ${(ms / bwrap).toFixed(2)}x bwrap`);
}
console.log(`in one process (${IN_PROCESS} sandboxes):`);
console.log(
  `  in a row                 ${fmt(perSandbox).padStart(10)}  ${
    (perSandbox / bwrap).toFixed(2)
  }x bwrap's whole process (target <= 1.5x)`,
);
console.log(`  4 at a time              ${perSecond.toFixed(0).padStart(7)} /s`);
console.log(`CLI over Deno's start-up:  ${fmt(cli - denoStart).padStart(10)}  (target <= 20 ms)`);
Deno.removeSync(json);
Deno.removeSync(empty);
