/**
 * The fault suite: what nsbuild leaves behind when things go wrong, run as
 * an unprivileged user on the busybox root the other tests use.
 *
 * - SIGKILL at seeded random moments during 30 builds and imports: no
 *   process of the run survives, no mount is left, no store entry is half
 *   written, tmp/ holds only abandoned temporaries that `cache prune`
 *   removes, and the next build succeeds reusing the layers completed
 *   before. The seed is printed; NSBUILD_FAULT_SEED replays it.
 * - A store on a small tmpfs that fills up (NSBUILD_SMALL_TMPFS, mounted by
 *   .ci/run as root: an unprivileged user cannot mount one): a one-line
 *   error that says the disk is full and names the store, and a consistent
 *   store that builds again once space is freed.
 * - 32 concurrent `nsbuild run`, 8 at a time, each with its own exit code.
 * - 500 sandboxes in a row from one process: no growth in descriptors or
 *   resident memory (both printed).
 *
 * All are ignored, with the reason printed, as root or where user
 * namespaces are refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { BuildEvent } from "../src/build/progress.ts";
import { busyboxRootfs, pollUntil, skipReason, sleep } from "./helpers/rootfs.ts";
import { hostMountinfo } from "./helpers/proc.ts";
import {
  describeOutcome,
  faultSeed,
  liveOrStrangeTemps,
  Nsbuild,
  type Outcome,
  processesMentioning,
  ProcessWatch,
  runNsbuild,
  seededRandom,
  storeNames,
  storeProblems,
} from "./helpers/fault.ts";
import type { LoopReport } from "./helpers/sandbox_loop.ts";

const reason = await skipReason();
const ignore = !!reason;

const smallTmpfs = Deno.env.get("NSBUILD_SMALL_TMPFS") || undefined;
const smallTmpfsReason = smallTmpfs ? undefined : "NSBUILD_SMALL_TMPFS is unset: the full-disk " +
  "tests need a small tmpfs the test user owns, which only root can mount (.ci/run does: " +
  "mount -t tmpfs -o size=48m tmpfs /mnt/nsbuild-small-store; chown USER; then export " +
  "NSBUILD_SMALL_TMPFS=/mnt/nsbuild-small-store)";
if (!ignore && smallTmpfsReason) console.warn(`fault tests skipped: ${smallTmpfsReason}`);

type StepStart = Extract<BuildEvent, { type: "step-start" }>;
type StepEnd = Extract<BuildEvent, { type: "step-end" }>;

function events(stdout: string): BuildEvent[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

function stepStarts(stdout: string): StepStart[] {
  return events(stdout).filter((e): e is StepStart => e.type === "step-start");
}

function stepEnds(stdout: string): StepEnd[] {
  return events(stdout).filter((e): e is StepEnd => e.type === "step-end");
}

function assertStatus(r: Outcome, code: number): void {
  assert.equal(r.code, code, `expected status ${code}\n${describeOutcome(r)}`);
}

/** Digits only, so it can sit in a `sleep` argument and find the processes that carry it. */
function randomDigits(n: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b % 10).join("");
}

function recipeText(name: string, base: Record<string, string>, steps: unknown[]): string {
  return `export default ${JSON.stringify({ name, version: "1", base, steps }, null, 2)};\n`;
}

/** Empties a store with `cache prune --all` (its files belong to mapped ids), then removes it. */
async function disposeStore(home: string): Promise<Outcome | undefined> {
  let pruned: Outcome | undefined;
  try {
    Deno.statSync(home);
    pruned = await runNsbuild(["cache", "prune", "--all"], home);
  } catch {
    // Never made, or prune failed: the removal below says what is left.
  }
  await Deno.remove(home, { recursive: true }).catch(() => {});
  return pruned;
}

/** A copy of the busybox root plus a payload file, packed by GNU tar with root as owner. */
async function rootTarball(scratch: string, name: string, payload: Uint8Array): Promise<string> {
  const dir = join(scratch, `${name}-root`);
  const cp = await new Deno.Command("cp", { args: ["-a", `${await busyboxRootfs()}/.`, dir] })
    .output();
  assert.ok(cp.success, `cp -a failed: ${new TextDecoder().decode(cp.stderr)}`);
  Deno.writeFileSync(join(dir, "payload"), payload);
  Deno.writeTextFileSync(join(dir, "etc", "variant"), `${name}\n`);
  const file = join(scratch, `${name}.tar`);
  const tar = await new Deno.Command("tar", {
    args: ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", file, "."],
  }).output();
  assert.ok(tar.success, `tar failed: ${new TextDecoder().decode(tar.stderr)}`);
  await Deno.remove(dir, { recursive: true });
  return file;
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

// ---------------------------------------------------------------------------
// The checks themselves: each must see what it looks for

Deno.test("storeProblems() names an entry without its metadata, half-written metadata, a missing tree and a stray record", () => {
  const home = Deno.makeTempDirSync({ prefix: "nsbuild-fault-check-" });
  try {
    const digest = (c: string) => c.repeat(64);
    const entry = (kind: string, name: string, files: Record<string, string>, tree?: string) => {
      Deno.mkdirSync(join(home, kind, name), { recursive: true });
      if (tree) Deno.mkdirSync(join(home, kind, name, tree));
      for (const [file, text] of Object.entries(files)) {
        Deno.writeTextFileSync(join(home, kind, name, file), text);
      }
    };
    entry("layers", digest("a"), { "layer.json": JSON.stringify({ key: digest("a") }) }, "upper");
    entry("bases", digest("b"), { "base.json": JSON.stringify({ digest: digest("b") }) }, "rootfs");
    Deno.mkdirSync(join(home, "refs"));
    Deno.writeTextFileSync(
      join(home, "refs", "ok.json"),
      JSON.stringify({ ref: "tar:x", digest: digest("b") }),
    );
    assert.deepEqual(storeProblems(home), [], "a consistent store was called inconsistent");
    entry("layers", digest("c"), {}, "upper");
    entry("bases", digest("d"), { "base.json": '{"digest": "dd' }, "rootfs");
    entry("layers", digest("e"), { "layer.json": JSON.stringify({ key: digest("e") }) });
    Deno.writeTextFileSync(join(home, "refs", "ok.json.4242.tmp"), "{");
    Deno.writeTextFileSync(
      join(home, "refs", "gone.json"),
      JSON.stringify({ ref: "tar:y", digest: digest("f") }),
    );
    const problems = storeProblems(home).join("\n");
    for (
      const expected of [
        `layers/${digest("c")}`,
        `bases/${digest("d")}`,
        `layers/${digest("e")}`,
        "ok.json.4242.tmp",
        "gone.json",
      ]
    ) {
      assert.ok(problems.includes(expected), `${expected} not reported in:\n${problems}`);
    }
    assert.equal(storeProblems(home).length, 5, problems);
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
});

Deno.test("ProcessWatch keeps a grandchild that outlived its parent, until it ends", async () => {
  const marker = `7.${randomDigits(12)}`;
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", `sleep ${marker} & sleep 0.3`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const watch = new ProcessWatch(child.pid);
  try {
    while (watch.seen.size < 2) {
      watch.sample();
      await sleep(10);
    }
    await child.status;
    const left = watch.survivors();
    assert.equal(left.length, 1, JSON.stringify(left));
    assert.deepEqual(left[0]!.argv, ["sleep", marker]);
    assert.deepEqual(processesMentioning(marker).map((p) => p.pid), [left[0]!.pid]);
    Deno.kill(left[0]!.pid, "SIGKILL");
    assert.ok(await pollUntil(() => watch.survivors().length === 0, 3_000), "still seen alive");
  } finally {
    for (const p of processesMentioning(marker)) Deno.kill(p.pid, "SIGKILL");
  }
});

// ---------------------------------------------------------------------------
// SIGKILL at random moments

const ROUNDS = 30;
/** Recipes (sharing their first step) and tarballs the rounds pick from. */
const VARIANTS = 5;
/**
 * Upper bounds of the kill delay: a build of three uncached steps takes
 * about 1 s here, a cached one 0.2 s, an import 0.3 s.
 */
const BUILD_DELAY_MS = 1200;
const IMPORT_DELAY_MS = 500;

interface Round {
  op: "build" | "import";
  variant: number;
  delayMs: number;
  /** build: --no-cache (rerun steps whose layers exist); import: --refresh. */
  again: boolean;
}

function planRounds(seed: number): Round[] {
  const random = seededRandom(seed);
  return Array.from({ length: ROUNDS }, () => {
    const op = random() < 0.65 ? "build" : "import";
    const variant = Math.floor(random() * VARIANTS);
    const delayMs = Math.floor(random() * (op === "build" ? BUILD_DELAY_MS : IMPORT_DELAY_MS));
    const again = random() < (op === "build" ? 0.3 : 0.6);
    return { op, variant, delayMs, again };
  });
}

/**
 * What must hold of a store after its nsbuild died, whatever the moment.
 * Returns the run directories left (with what they hold): the monitor
 * removes a sandbox's run directory when it ends, but nsbuild makes it just
 * before the monitor exists, so a kill in between leaves an empty one,
 * which `cache prune` must remove.
 */
async function assertConsistentAfterKill(
  home: string,
  watch: ProcessWatch,
  marker: string,
  label: string,
): Promise<string[]> {
  const gone = await pollUntil(
    () => watch.survivors().length === 0 && processesMentioning(marker).length === 0,
    3_000,
  );
  if (!gone) {
    const left = [...watch.survivors(), ...processesMentioning(marker)]
      .map((p) => `${p.pid}: ${p.argv.join(" ")}`);
    throw new Error(`${label}: processes outlived nsbuild's SIGKILL:\n${left.join("\n")}`);
  }
  const mounts = hostMountinfo().split("\n").filter((l) => l.includes(home));
  assert.deepEqual(mounts, [], `${label}: mounts of the store are left on the host`);
  assert.deepEqual(storeProblems(home), [], `${label}: the store is inconsistent`);
  assert.deepEqual(await liveOrStrangeTemps(home), [], `${label}: tmp/ holds more than leftovers`);
  // Only this run's: those of earlier rounds stay until the prune at the end.
  const ours = () => storeNames(home, "runs").filter((n) => n.startsWith(`${watch.root}-`));
  await pollUntil(() => ours().length === 0, 2_000);
  return ours().map((name) => {
    const inside = storeNames(home, join("runs", name));
    return `${name} holding [${inside.join(", ")}]`;
  });
}

Deno.test({
  name: "SIGKILL at seeded random moments of 30 builds and imports leaves no process, mount or " +
    "half entry, and the next build reuses the completed layers",
  ignore,
  fn: async () => {
    const seed = faultSeed();
    const rounds = planRounds(seed);
    const scratch = await Deno.makeTempDir({ prefix: "nsbuild-fault-kill-" });
    const home = join(scratch, "home");
    const out = join(scratch, "out");
    const rootfs = await busyboxRootfs();
    // In every step's script and in its sleep: finds the step's processes, whichever round.
    const marker = `0.2${randomDigits(12)}`;
    const recipes = Array.from({ length: VARIANTS }, (_, v) => {
      const path = join(scratch, `v${v}.ts`);
      Deno.writeTextFileSync(
        path,
        recipeText(`fault${v}`, { directory: rootfs }, [
          { name: "one", run: `sleep ${marker}; echo one > /build/one` },
          { name: "two", run: `sleep ${marker}; echo two-v${v} > /build/two` },
          { name: "three", run: `sleep ${marker}; cat /build/one /build/two > /out/all` },
        ]),
      );
      return path;
    });
    const tarballs: string[] = [];
    for (let v = 0; v < VARIANTS; v++) {
      tarballs.push(await rootTarball(scratch, `import${v}`, randomBytes(8 << 20)));
    }
    const started = Date.now();
    let failed = true;
    try {
      const log: string[] = [];
      let kills = 0;
      for (const [i, round] of rounds.entries()) {
        const args = round.op === "build"
          ? ["build", recipes[round.variant]!, "--out", out, "--json"]
          : ["base", "pull", `tar:${tarballs[round.variant]}`, "--json"];
        if (round.again) args.push(round.op === "build" ? "--no-cache" : "--refresh");
        const label = `round ${i + 1}/${ROUNDS} (seed ${seed}): ${args.join(" ")} killed after ` +
          `${round.delayMs} ms`;
        const spawned = Date.now();
        const run = new Nsbuild(args, home, { cwd: scratch, limitMs: 30_000 });
        const watch = new ProcessWatch(run.pid);
        const deadline = Date.now() + round.delayMs;
        while (!run.exited && Date.now() < deadline) {
          watch.sample();
          await sleep(Math.min(10, Math.max(0, deadline - Date.now())));
        }
        let killed = false;
        if (!run.exited) {
          // Frozen first, so that the last look at its children misses none it starts.
          run.kill("SIGSTOP");
          watch.sample();
          run.kill("SIGKILL");
          killed = true;
        }
        const result = await run.result;
        const what = `${round.op} v${round.variant}${round.again ? ` ${args.at(-1)}` : ""}`;
        if (killed && result.signal === "SIGKILL") {
          kills++;
          const steps = stepEnds(result.stdout).filter((e) => e.status !== "interrupted").length;
          const progress = round.op === "build" ? ` after ${steps} steps` : "";
          log.push(`${what}: killed at ${round.delayMs} ms${progress}`);
        } else {
          // It finished before its moment came: then it must have succeeded.
          assertStatus(result, 0);
          log.push(`${what}: finished first, in ${Date.now() - spawned} ms`);
        }
        const runsLeft = await assertConsistentAfterKill(home, watch, marker, label);
        if (runsLeft.length) log.push(`  its run directories left: ${runsLeft.join("; ")}`);
      }
      const loopSeconds = (Date.now() - started) / 1000;
      console.log(
        `${ROUNDS} rounds in ${loopSeconds.toFixed(1)} s, ${kills} killed:\n  ${log.join("\n  ")}`,
      );

      // The next builds succeed, taking from the cache exactly the layers completed before.
      const completed = new Set(storeNames(home, "layers"));
      let reused = 0;
      for (const [v, recipe] of recipes.entries()) {
        const before = new Set(storeNames(home, "layers"));
        const r = await runNsbuild(["build", recipe, "--out", out, "--json"], home, {
          cwd: scratch,
        });
        assertStatus(r, 0);
        const starts = stepStarts(r.stdout);
        const ends = stepEnds(r.stdout);
        assert.equal(starts.length, 3, describeOutcome(r));
        for (const [n, start] of starts.entries()) {
          const expected = before.has(start.key) ? "cached" : "done";
          assert.equal(
            ends[n]?.status,
            expected,
            `step ${start.name} (${start.key}) of ${recipe}: layer ${
              before.has(start.key) ? "complete" : "absent"
            } before the build\n${describeOutcome(r)}`,
          );
          if (completed.has(start.key)) reused++;
        }
        assert.equal(Deno.readTextFileSync(join(out, "all")), `one\ntwo-v${v}\n`);
      }
      assert.ok(
        reused > 0,
        `no layer completed in the loop was reused (seed ${seed}): the loop killed every build ` +
          "before its first step ended",
      );
      console.log(`the builds after the loop reused ${reused} layers completed during it`);

      // Prune removes the leftovers and nothing the builds need.
      const pruned = await runNsbuild(["cache", "prune"], home);
      assertStatus(pruned, 0);
      assert.deepEqual(storeNames(home, "tmp"), [], "tmp/ is not empty after `cache prune`");
      assert.deepEqual(storeNames(home, "runs"), [], "runs/ is not empty after `cache prune`");
      assert.deepEqual(storeProblems(home), [], "the store is inconsistent after `cache prune`");
      const again = await runNsbuild(["build", recipes[0]!, "--out", out, "--json"], home, {
        cwd: scratch,
      });
      assertStatus(again, 0);
      assert.deepEqual(stepEnds(again.stdout).map((e) => e.status), ["cached", "cached", "cached"]);
      failed = false;
    } finally {
      for (const p of processesMentioning(marker)) {
        try {
          Deno.kill(p.pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      const pruned = await disposeStore(home);
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
      if (!failed && pruned) assertStatus(pruned, 0);
    }
  },
});

// ---------------------------------------------------------------------------
// A full disk

/** The size of the file system at path, in bytes (df, since Deno has no statfs). */
async function fileSystemBytes(path: string): Promise<number> {
  const out = await new Deno.Command("df", { args: ["-B1", "--output=size", path] }).output();
  assert.ok(out.success, `df ${path} failed: ${new TextDecoder().decode(out.stderr)}`);
  return Number(new TextDecoder().decode(out.stdout).trim().split("\n").pop());
}

/** The small tmpfs, checked: the tests below fill it, which must never be a real disk. */
async function smallStore(prefix: string): Promise<{ home: string; size: number }> {
  const dir = smallTmpfs!;
  const mount = hostMountinfo().split("\n").find((l) => l.split(" ")[4] === dir);
  assert.ok(mount, `NSBUILD_SMALL_TMPFS=${dir} is not a mount point`);
  assert.match(mount, / - tmpfs /, `NSBUILD_SMALL_TMPFS=${dir} is not a tmpfs: ${mount}`);
  const size = await fileSystemBytes(dir);
  assert.ok(size <= 256 << 20, `NSBUILD_SMALL_TMPFS=${dir} holds ${size} bytes: too big to fill`);
  return { home: await Deno.makeTempDir({ dir, prefix }), size };
}

/**
 * The error is one line (besides its hint) that says the disk is full and
 * names the store, with no stack trace.
 */
function assertDiskFullError(r: Outcome, home: string): void {
  assert.notEqual(r.code, 0, `nsbuild succeeded on a full disk\n${describeOutcome(r)}`);
  assert.ok(!/^\s+at /m.test(r.stderr), `a stack trace on stderr\n${describeOutcome(r)}`);
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("  hint: "));
  assert.equal(lines.length, 1, `expected one line of error\n${describeOutcome(r)}`);
  const line = lines[0]!;
  assert.ok(line.startsWith("nsbuild: "), `not nsbuild's error\n${describeOutcome(r)}`);
  assert.match(
    line,
    /disk is full|no space left/i,
    `the error does not say the disk is full\n${describeOutcome(r)}`,
  );
  assert.ok(
    line.includes(home),
    `the error does not name the store ${home}\n${describeOutcome(r)}`,
  );
}

Deno.test({
  name: "a build that fills a store on a small tmpfs fails with one line that says the disk is " +
    "full, and the store stays consistent and builds again",
  ignore: ignore || !!smallTmpfsReason,
  fn: async () => {
    const { home } = await smallStore("nsbuild-fault-full-build-");
    const scratch = await Deno.makeTempDir({ prefix: "nsbuild-fault-full-" });
    const rootfs = await busyboxRootfs();
    const marker = `0.0${randomDigits(12)}`;
    const first = { name: "one", run: "echo small > /build/one" };
    const filling = join(scratch, "fill.ts");
    Deno.writeTextFileSync(
      filling,
      recipeText("fill", { directory: rootfs }, [
        first,
        // Writes until the store's disk is full, whatever its size.
        { name: "fill", run: `sleep ${marker}; cat /dev/zero > /build/zeros; echo never` },
      ]),
    );
    const small = join(scratch, "small.ts");
    Deno.writeTextFileSync(
      small,
      recipeText("small", { directory: rootfs }, [
        first,
        { name: "two", run: "cat /build/one > /out/ok" },
      ]),
    );
    const out = join(scratch, "out");
    try {
      const r = await runNsbuild(["build", filling, "--out", out, "--json"], home, {
        cwd: scratch,
      });
      assertDiskFullError(r, home);
      // Its processes end with it, and free what they held.
      assert.ok(await pollUntil(() => processesMentioning(marker).length === 0, 5_000));
      assert.deepEqual(storeProblems(home), [], "the store is inconsistent after the full disk");
      assert.deepEqual(await liveOrStrangeTemps(home), []);
      assert.ok(
        !storeNames(home, "layers").some((k) => stepStarts(r.stdout).at(-1)?.key === k),
        "the step that filled the disk was committed",
      );
      // The space is free again once the step's temporary is gone: the next build succeeds,
      // reusing the step completed before the disk filled.
      const again = await runNsbuild(["build", small, "--out", out, "--json"], home, {
        cwd: scratch,
      });
      assertStatus(again, 0);
      assert.deepEqual(stepEnds(again.stdout).map((e) => e.status), ["cached", "done"]);
      assert.equal(Deno.readTextFileSync(join(out, "ok")), "small\n");
      const pruned = await runNsbuild(["cache", "prune"], home);
      assertStatus(pruned, 0);
      assert.deepEqual(storeNames(home, "tmp"), [], "tmp/ is not empty after `cache prune`");
      assert.deepEqual(storeProblems(home), []);
    } finally {
      for (const p of processesMentioning(marker)) {
        try {
          Deno.kill(p.pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      await disposeStore(home);
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "an import bigger than a store on a small tmpfs fails with one line that says the disk " +
    "is full, and the store stays consistent and imports again",
  ignore: ignore || !!smallTmpfsReason,
  fn: async () => {
    const { home, size } = await smallStore("nsbuild-fault-full-import-");
    const scratch = await Deno.makeTempDir({ prefix: "nsbuild-fault-full-" });
    try {
      const big = await rootTarball(scratch, "big", new Uint8Array(size + (8 << 20)));
      const r = await runNsbuild(["base", "pull", `tar:${big}`, "--json"], home);
      assertDiskFullError(r, home);
      assert.deepEqual(storeProblems(home), [], "the store is inconsistent after the full disk");
      assert.deepEqual(storeNames(home, "bases"), [], "a base was kept");
      assert.deepEqual(await liveOrStrangeTemps(home), []);
      const pruned = await runNsbuild(["cache", "prune"], home);
      assertStatus(pruned, 0);
      assert.deepEqual(storeNames(home, "tmp"), [], "tmp/ is not empty after `cache prune`");
      const fits = await rootTarball(scratch, "fits", new Uint8Array(1 << 20));
      const again = await runNsbuild(["base", "pull", `tar:${fits}`, "--json"], home);
      assertStatus(again, 0);
      assert.deepEqual(storeNames(home, "bases"), [JSON.parse(again.stdout).digest]);
      assert.deepEqual(storeProblems(home), []);
    } finally {
      await disposeStore(home);
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  },
});

// ---------------------------------------------------------------------------
// Many sandboxes

Deno.test({
  name: "32 concurrent `nsbuild run`, 8 at a time on one store, all succeed with their own " +
    "exit codes",
  ignore,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "nsbuild-fault-runs-" });
    const rootfs = await busyboxRootfs();
    const results: Outcome[] = [];
    let next = 0;
    try {
      const worker = async () => {
        while (next < 32) {
          const i = next++;
          results[i] = await runNsbuild(
            ["run", "--rootfs", rootfs, "--", "/bin/sh", "-c", `echo run-${i}; exit $((${i} % 7))`],
            home,
            { limitMs: 30_000 },
          );
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, i % 7, `run ${i}: wrong exit status\n${describeOutcome(r)}`);
        assert.equal(r.stdout, `run-${i}\n`, `run ${i}: wrong output\n${describeOutcome(r)}`);
        assert.equal(r.stderr, "", `run ${i}: something on stderr\n${describeOutcome(r)}`);
      }
      assert.equal(results.length, 32);
      assert.ok(
        await pollUntil(() => storeNames(home, "runs").length === 0, 3_000),
        `run directories left: ${storeNames(home, "runs").join(", ")}`,
      );
    } finally {
      await disposeStore(home);
    }
  },
});

Deno.test({
  name: "500 sandboxes in a row from one process leave no growth in descriptors or memory",
  ignore,
  fn: async () => {
    const store = await Deno.makeTempDir({ prefix: "nsbuild-fault-leak-" });
    try {
      // A process of its own: test modules run in parallel share this one, and its figures.
      const loop = new URL("./helpers/sandbox_loop.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-all", loop, await busyboxRootfs(), store, "20", "500"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `the sandbox loop failed (status ${out.code}): ${stderr}`);
      const r = JSON.parse(new TextDecoder().decode(out.stdout)) as LoopReport;
      const mib = (n: number) => (n / (1 << 20)).toFixed(1);
      const growth = r.rssAfter - r.rssBefore;
      console.log(
        `${r.count} sandboxes in ${r.seconds.toFixed(1)} s after 20 to warm up: descriptors ` +
          `${r.fdsBefore} -> ${r.fdsAfter}; VmRSS ${mib(r.rssBefore)} MiB -> ` +
          `${mib(r.rssAfter)} MiB (${growth >= 0 ? "+" : ""}${mib(growth)} MiB)`,
      );
      assert.equal(r.count, 500);
      assert.equal(r.fdsAfter, r.fdsBefore, "descriptors leaked");
      assert.ok(growth < 20 << 20, `resident memory grew by ${mib(growth)} MiB`);
      assert.ok(
        await pollUntil(() => storeNames(store, "runs").length === 0, 3_000),
        `run directories left: ${storeNames(store, "runs").join(", ")}`,
      );
    } finally {
      await Deno.remove(store, { recursive: true }).catch(() => {});
    }
  },
});
