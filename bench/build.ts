/**
 * Build benchmarks against the same work done without nsbuild, from one run
 * on one machine, reported as ratios. Run as an unprivileged user with
 * subordinate ids; the hello recipe's base must be in the store already
 * (run `bin/nsbuild recipes/hello.ts` once) or it is bootstrapped first.
 *
 *   cached rebuild:  `nsbuild recipes/hello.ts` with every step cached, end
 *                    to end (target: under 1 s)
 *   full build:      `nsbuild --no-cache recipes/hello.ts` against the same
 *                    commands in a plain `unshare` + `chroot` of a copy of
 *                    the same base (target: at most 1.10x)
 *   memory:          nsbuild's own peak RSS during the full build, polled
 *                    from /proc (target: at most 150 MB)
 *
 * Usage: deno run --allow-all bench/build.ts [ROUNDS]   (default 2 rounds, alternating)
 */
import { NSBUILD_BIN } from "../tests/helpers/rootfs.ts";

const ROUNDS = Number(Deno.args[0] ?? 2);
const recipe = new URL("../recipes/hello.ts", import.meta.url).pathname;
const home = Deno.env.get("NSBUILD_HOME") ?? `${Deno.env.get("HOME")}/.cache/nsbuild`;
const scratch = Deno.makeTempDirSync({ prefix: "nsbuild-bench-build-" });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function run(cmd: string, args: string[], quiet = true): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    stdout: quiet ? "null" : "inherit",
    stderr: quiet ? "piped" : "inherit",
    env: { NSBUILD_HOME: home },
  }).output();
  if (!out.success) {
    console.error(new TextDecoder().decode(out.stderr).split("\n").slice(-30).join("\n"));
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code})`);
  }
  return (performance.now() - started) / 1000;
}

/**
 * Runs nsbuild with --json and polls the Deno process's RSS; returns the
 * wall time, the steps' own time (from step-end events) and the peak MB.
 */
async function nsbuildWithRss(
  args: string[],
): Promise<{ seconds: number; stepSeconds: number; peakMb: number }> {
  const started = performance.now();
  const child = new Deno.Command(NSBUILD_BIN, {
    args: [...args, "--json"],
    stdout: "piped",
    stderr: "piped",
    env: { NSBUILD_HOME: home },
  }).spawn();
  let peak = 0;
  const poll = setInterval(() => {
    try {
      // bin/nsbuild execs Deno, so the child's pid is nsbuild itself.
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1024);
    } catch {
      // Exited.
    }
  }, 50);
  const out = await child.output();
  clearInterval(poll);
  if (!out.success) {
    console.error(new TextDecoder().decode(out.stderr).split("\n").slice(-30).join("\n"));
    throw new Error(`nsbuild ${args.join(" ")} failed`);
  }
  const stepSeconds = new TextDecoder().decode(out.stdout).split("\n").filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((e) => e.type === "step-end")
    .reduce((sum, e) => sum + e.seconds, 0);
  return { seconds: (performance.now() - started) / 1000, stepSeconds, peakMb: peak };
}

async function baseRootfs(): Promise<string> {
  const out = await new Deno.Command(NSBUILD_BIN, {
    args: [
      "base",
      "pull",
      "--json",
      "debian:bookworm+build-essential,debhelper,ed,help2man,texinfo",
    ],
    stdout: "piped",
    stderr: "inherit",
    env: { NSBUILD_HOME: home },
  }).output();
  if (!out.success) throw new Error("cannot resolve the hello recipe's base");
  return JSON.parse(new TextDecoder().decode(out.stdout)).rootfs;
}

/**
 * The hello build's commands in a plain chroot of a copy of the base. The
 * mounts live in a mount namespace of their own that ends before the copy
 * is removed, so the removal can never reach the host's /dev.
 */
function chrootScript(rootfs: string, copy: string, src: string): string {
  const build = "dpkg-source -x /src/hello/hello_2.10-3.dsc /build/hello >/dev/null && " +
    "cd /build/hello && dpkg-buildpackage -b -uc -us >/dev/null 2>&1 && cp /build/hello_*.deb /tmp/";
  const inner = [
    "set -e",
    `mount --rbind /dev ${copy}/dev`,
    `mount -t proc proc ${copy}/proc`,
    `mount --bind ${src} ${copy}/src/hello`,
    "start=$(date +%s.%N)",
    `chroot ${copy} env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 ` +
    `LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH=315532800 sh -ec '${build}'`,
    "end=$(date +%s.%N)",
    `awk -v a="$start" -v b="$end" 'BEGIN { print b - a }' > ${copy}.seconds`,
  ].join("\n");
  return [
    "set -e",
    `cp -a ${rootfs} ${copy}`,
    `mkdir -p ${copy}/src/hello ${copy}/build`,
    `unshare --mount sh -c '${inner.replaceAll("'", "'\\''")}'`,
    // The copy belongs to subordinate ids: remove it while they are mapped.
    `rm -rf --one-file-system ${copy}`,
  ].join("\n");
}

const rootfs = await baseRootfs();
await run(NSBUILD_BIN, [recipe, "--out", `${scratch}/out`]); // warm: layers and sources in place
const srcDir =
  JSON.parse(Deno.readTextFileSync(`${scratch}/out/nsbuild-manifest.json`)).sources[0].digest;
const src = `${home}/sources/${srcDir}/content`;

const cached: number[] = [];
for (let i = 0; i < 10; i++) {
  cached.push(await run(NSBUILD_BIN, [recipe, "--out", `${scratch}/out`]));
}

const nsbuildTimes: number[] = [];
const stepTimes: number[] = [];
const chrootTimes: number[] = [];
const rss: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const full = await nsbuildWithRss([recipe, "--no-cache", "--out", `${scratch}/out`]);
  nsbuildTimes.push(full.seconds);
  stepTimes.push(full.stepSeconds);
  rss.push(full.peakMb);
  const copy = `${scratch}/chroot-${round}`;
  await run("unshare", [
    "--map-root-user",
    `--map-users=${subIdRange("/etc/subuid")}`,
    `--map-groups=${subIdRange("/etc/subgid")}`,
    "--mount",
    "--pid",
    "--fork",
    "sh",
    "-c",
    chrootScript(rootfs, copy, src),
  ]);
  chrootTimes.push(Number(Deno.readTextFileSync(`${copy}.seconds`)));
}

/** "OUTER,1,COUNT" for unshare --map-users, from this user's first subordinate range. */
function subIdRange(file: string): string {
  const user = Deno.env.get("USER") ?? new TextDecoder().decode(
    new Deno.Command("id", { args: ["-un"], stdout: "piped" }).outputSync().stdout,
  ).trim();
  const uid = String(Deno.uid());
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const [name, start, count] = line.split(":");
    if (name === user || name === uid) return `${start},1,${Math.min(Number(count), 65536)}`;
  }
  throw new Error(`no subordinate ids for ${user} in ${file}`);
}

const ratio = median(nsbuildTimes) / median(chrootTimes);
console.log(`hello, ${ROUNDS} rounds alternating, medians:`);
console.log(
  `  cached rebuild, end to end:        ${
    (median(cached) * 1000).toFixed(0)
  } ms (target < 1000 ms)`,
);
console.log(`  nsbuild --no-cache (whole build):  ${median(nsbuildTimes).toFixed(2)} s`);
console.log(
  `    of which the steps themselves:  ${median(stepTimes).toFixed(2)} s (ratio ${
    (median(stepTimes) / median(chrootTimes)).toFixed(3)
  }x)`,
);
console.log(`  unshare + chroot (same commands):  ${median(chrootTimes).toFixed(2)} s`);
console.log(`  ratio:                             ${ratio.toFixed(3)}x (target <= 1.10x)`);
console.log(
  `  nsbuild peak RSS:                  ${Math.max(...rss).toFixed(0)} MB (target <= 150 MB)`,
);
await run(NSBUILD_BIN, ["cache", "ls"]).catch(() => 0);
Deno.removeSync(scratch, { recursive: true });
