/**
 * End-to-end builds of the recipes in recipes/ on their real Debian base.
 * They share one store, $NSBUILD_E2E_HOME or else ~/.cache/nsbuild-e2e, so
 * the base is bootstrapped once (about a minute or more) and reused by every
 * build here and by later runs. Deno runs the tests of one file one after
 * another, which these rely on. Ignored, with the reason printed, where
 * sandboxes cannot run, mmdebstrap is missing or the host's apt sources do
 * not answer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { BuildEvent } from "../src/build/progress.ts";
import { BUILD_BASE } from "../recipes/build_base.ts";
import { NSBUILD_BIN } from "./helpers/rootfs.ts";
import { e2eEnv, e2eReason } from "./helpers/e2e.ts";

const RECIPES = new URL("../recipes/", import.meta.url).pathname;

/** The recipes' base as `nsbuild run --base` names it. */
const BASE_REF = `debian:${BUILD_BASE.debian}+${(BUILD_BASE.packages ?? []).join(",")}`;

/** A hang guard for one nsbuild run (a bootstrap included), not an assertion. */
const RUN_LIMIT_MS = 30 * 60_000;

const reason = await e2eReason();
if (reason) console.warn(`nsbuild end-to-end build tests skipped: ${reason}`);
const ignore = !!reason;

/** Outputs of this file's builds, removed when the tests end. */
const outRoot = Deno.makeTempDirSync({ prefix: "nsbuild-e2e-out-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(outRoot, { recursive: true });
  } catch {
    // A temp dir left behind is not worth failing for.
  }
});

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as JSON events (with --json). */
  events: BuildEvent[];
  /** Wall time of the run, for the report. */
  seconds: number;
}

async function nsbuild(args: string[]): Promise<RunResult> {
  const env = e2eEnv();
  const started = performance.now();
  const child = new Deno.Command(NSBUILD_BIN, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, RUN_LIMIT_MS);
  const output = await child.output();
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (timedOut) throw new Error(`nsbuild ${args.join(" ")} was killed after its time limit`);
  const events = args.includes("--json")
    ? stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))
    : [];
  return { code: output.code, stdout, stderr, events, seconds };
}

function describeRun(r: RunResult): string {
  const lastLines = (text: string) => text.split("\n").slice(-60).join("\n");
  return `status ${r.code}\nstdout (end): ${lastLines(r.stdout)}\nstderr: ${lastLines(r.stderr)}`;
}

function assertStatus(r: RunResult, code: number): void {
  assert.equal(r.code, code, `expected status ${code}, got ${describeRun(r)}`);
}

type StepEnd = Extract<BuildEvent, { type: "step-end" }>;

function statuses(events: BuildEvent[]): Record<string, string> {
  return Object.fromEntries(
    events.filter((e): e is StepEnd => e.type === "step-end").map((e) => [e.name, e.status]),
  );
}

function logLines(events: BuildEvent[], step: string): string[] {
  return events.flatMap((e) => e.type === "step-log" && e.name === step ? [e.line] : []);
}

/**
 * Builds recipes/NAME.ts into a fresh out dir. --no-cache by default, so that
 * every step really runs (and shows its output) even when an earlier run of
 * this file left the layers in the shared store; the base is reused either way.
 */
async function buildRecipe(name: string, extra = ["--no-cache"]): Promise<
  RunResult & {
    out: string;
  }
> {
  const out = Deno.makeTempDirSync({ dir: outRoot, prefix: `${name}-` }) + `/${name}`;
  const r = await nsbuild(["build", join(RECIPES, `${name}.ts`), "--out", out, "--json", ...extra]);
  console.log(`nsbuild build recipes/${name}.ts ${extra.join(" ")}: ${r.seconds.toFixed(1)} s`);
  return { ...r, out };
}

/** `nsbuild run --base <the recipes' base> --ro-bind HOST:TARGET -- argv` */
function runInBase(bind: string, argv: string[]): Promise<RunResult> {
  return nsbuild(["run", "--base", BASE_REF, "--ro-bind", bind, "--", ...argv]);
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

let helloDebs: string | undefined;

test("recipes/hello.ts builds a .deb whose test suite passed and whose hello says Hello, world!", async () => {
  const r = await buildRecipe("hello");
  assertStatus(r, 0);
  assert.deepEqual(statuses(r.events), { unpack: "done", build: "done", collect: "done" });
  // dh_auto_test ran the package's test suite.
  const build = logLines(r.events, "build");
  assert.ok(build.some((l) => /^# PASS:\s+[1-9]/.test(l)), "no `# PASS:` line in the build log");
  assert.ok(build.some((l) => /^# FAIL:\s+0$/.test(l)), "no `# FAIL:  0` line in the build log");
  const debs = [...Deno.readDirSync(r.out)].map((e) => e.name).filter((n) =>
    /^hello_.*\.deb$/.test(n)
  );
  assert.equal(debs.length, 1, `expected one hello_*.deb in ${r.out}`);
  helloDebs = r.out;

  const run = await runInBase(`${r.out}:/debs`, [
    "sh",
    "-c",
    "dpkg -i /debs/hello_*.deb >&2 && hello",
  ]);
  assertStatus(run, 0);
  assert.equal(run.stdout, "Hello, world!\n");
});

test("a second build of recipes/hello.ts takes every step from the cache", async () => {
  const r = await buildRecipe("hello", []);
  assertStatus(r, 0);
  assert.deepEqual(statuses(r.events), { unpack: "cached", build: "cached", collect: "cached" });
  console.log(`fully cached build of hello: ${r.seconds.toFixed(2)} s wall time`);
  if (helloDebs) {
    // The same layers give the same files.
    const outputs = (dir: string) =>
      JSON.parse(Deno.readTextFileSync(join(dir, "nsbuild-manifest.json"))).outputs;
    assert.deepEqual(outputs(r.out), outputs(helloDebs));
  }
});

test("recipes/patch.ts builds GNU patch with its make check passing, and the binary runs in the base", async () => {
  const r = await buildRecipe("patch");
  assertStatus(r, 0);
  assert.deepEqual(statuses(r.events), {
    unpack: "done",
    configure: "done",
    build: "done",
    check: "done",
    install: "done",
  });
  const check = logLines(r.events, "check");
  assert.ok(check.some((l) => /^# PASS:\s+[1-9]/.test(l)), "no `# PASS:` line in make check");
  assert.ok(check.some((l) => /^# FAIL:\s+0$/.test(l)), "no `# FAIL:  0` line in make check");
  assert.ok(Deno.statSync(join(r.out, "usr/bin/patch")).isFile);

  const run = await runInBase(`${r.out}:/patch-out`, ["/patch-out/usr/bin/patch", "--version"]);
  assertStatus(run, 0);
  assert.match(run.stdout, /^GNU patch 2\.7\.6$/m);
});

test("recipes/quickstart.ts builds greet, which prints Hello from nsbuild", async () => {
  const r = await buildRecipe("quickstart");
  assertStatus(r, 0);
  assert.deepEqual(statuses(r.events), { compile: "done", test: "done" });
  const run = await runInBase(`${r.out}:/quickstart`, ["/quickstart/greet"]);
  assertStatus(run, 0);
  assert.equal(run.stdout, "Hello from nsbuild\n");
});
