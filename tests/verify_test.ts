/**
 * Integration tests of `nsbuild verify` on a busybox directory base: a
 * deterministic recipe verifies, outputs that depend on the wall clock, the
 * boot clock or the order of directory entries are caught with the file
 * named, the caller's environment never reaches a build, and nothing of
 * verify's private directories or views outlives it, Ctrl-C included. Each
 * test has its own store. Ignored (with the reason printed once) as root or
 * where user namespaces are refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { busyboxRootfs, NSBUILD_BIN, pollUntil, skipReason } from "./helpers/rootfs.ts";
import { killMarked, processesWithArg } from "./helpers/proc.ts";

const reason = await skipReason();
const ignore = !!reason;

/** Host variables nsbuild (Deno) itself needs; nothing else of the test's environment. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NSBUILD_EXECUTOR"];

const RUN_LIMIT_MS = 120_000;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function describeRun(r: RunResult): string {
  return `status ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

function assertStatus(r: RunResult, code: number): void {
  assert.equal(r.code, code, `expected status ${code}, got ${describeRun(r)}`);
}

/** Why disorderfs views cannot work here for this user, or undefined when they can. */
async function disorderReason(): Promise<string | undefined> {
  if (reason) return reason;
  const dir = Deno.makeTempDirSync({ prefix: "nsbuild-disorder-probe-" });
  try {
    Deno.mkdirSync(join(dir, "src"));
    Deno.mkdirSync(join(dir, "mnt"));
    let out;
    try {
      out = await new Deno.Command("disorderfs", {
        args: ["--quiet", join(dir, "src"), join(dir, "mnt")],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch {
      return "disorderfs is not installed (apt-get install disorderfs fuse3)";
    }
    if (!out.success) {
      return `disorderfs cannot mount here: ${new TextDecoder().decode(out.stderr).trim()}`;
    }
    await new Deno.Command("fusermount3", { args: ["-u", join(dir, "mnt")] }).output()
      .catch(() => new Deno.Command("fusermount", { args: ["-u", join(dir, "mnt")] }).output());
    return undefined;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const noDisorder = await disorderReason();
if (noDisorder && !reason) console.warn(`directory-order verify test skipped: ${noDisorder}`);

/** A running nsbuild whose stderr can be watched as it comes. */
class Running {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #pumps: Promise<void>;
  #timedOut = false;

  constructor(readonly args: string[], home: string, cwd: string, extraEnv = {}) {
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, extraEnv, { NSBUILD_HOME: home });
    this.child = new Deno.Command(NSBUILD_BIN, {
      args,
      cwd,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) add(text);
    };
    this.#pumps = Promise.all([
      pump(this.child.stdout, (s) => this.stdout += s),
      pump(this.child.stderr, (s) => this.stderr += s),
    ]).then(() => {});
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.kill("SIGKILL");
    }, RUN_LIMIT_MS);
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // It has exited.
    }
  }

  async finish(): Promise<RunResult> {
    const status = await this.child.status;
    clearTimeout(this.#timer);
    await this.#pumps;
    const result = { code: status.code, stdout: this.stdout, stderr: this.stderr };
    if (this.#timedOut) {
      throw new Error(`nsbuild was killed after its time limit\n${describeRun(result)}`);
    }
    return result;
  }
}

/** A temp directory with recipes, their sources and a store. */
class Workspace {
  readonly home: string;

  constructor(readonly dir: string, readonly rootfs: string) {
    this.home = join(dir, "home");
  }

  /** Writes a recipe module on the busybox base and returns its path. */
  recipe(file: string, recipe: Record<string, unknown>): string {
    const full = { name: "t", version: "1", base: { directory: this.rootfs }, ...recipe };
    const path = join(this.dir, file);
    Deno.writeTextFileSync(path, `export default ${JSON.stringify(full, null, 2)};\n`);
    return path;
  }

  /** A directory of source files named `names`, each holding its own name. */
  sourceDir(name: string, names: string[]): string {
    const dir = join(this.dir, name);
    Deno.mkdirSync(dir, { recursive: true });
    for (const n of names) Deno.writeTextFileSync(join(dir, n), `${n}\n`);
    return dir;
  }

  spawn(args: string[], env: Record<string, string> = {}): Running {
    return new Running(args, this.home, this.dir, env);
  }

  verify(recipe: string, extra: string[] = [], env: Record<string, string> = {}) {
    return this.spawn(["verify", recipe, ...extra], env).finish();
  }

  /** What verify may leave behind: its private directories in tmp/, and mounted views. */
  leftovers(): string[] {
    const left: string[] = [];
    try {
      for (const e of Deno.readDirSync(join(this.home, "tmp"))) {
        if (e.name.startsWith("verify-")) left.push(`tmp/${e.name}`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    for (const line of Deno.readTextFileSync("/proc/self/mounts").split("\n")) {
      const mountpoint = line.split(" ")[1] ?? "";
      if (mountpoint.startsWith(this.dir)) left.push(`mount ${mountpoint}`);
    }
    return left;
  }

  async dispose(failed: boolean): Promise<void> {
    const prune = await this.spawn(["cache", "prune", "--all"]).finish();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    if (!failed) assert.equal(prune.code, 0, `cache prune --all failed: ${describeRun(prune)}`);
  }
}

function test(name: string, fn: (ws: Workspace) => Promise<void>, skip = false): void {
  Deno.test({
    name,
    ignore: ignore || skip,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "nsbuild-verify-test-" });
      const ws = new Workspace(dir, await busyboxRootfs());
      let failed = true;
      try {
        await fn(ws);
        failed = false;
      } finally {
        await ws.dispose(failed);
      }
    },
  });
}

interface JsonReport {
  recipe: string;
  status: string;
  reproducible: boolean;
  files: number;
  identical: number;
  variations: { id: string; varied: boolean; a?: string; b?: string; reason?: string }[];
  differences: { path: string; kind: string; summary: string; account: string[] }[];
}

function parseReport(r: RunResult): JsonReport {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`verify --json did not print one JSON object\n${describeRun(r)}`);
  }
}

// ---------------------------------------------------------------------------

test("a deterministic recipe verifies: exit 0, one summary line, nothing left behind", async (ws) => {
  ws.sourceDir("tree", ["c", "a", "e", "b", "d"]);
  const recipe = ws.recipe("r.ts", {
    sources: [{ path: "tree" }],
    steps: [
      { name: "prepare", run: "mkdir -p /build/x && ls /src/tree > /build/x/list" },
      {
        name: "out",
        run: "cp /build/x/list /out/list && cat /src/tree/* > /out/all && " +
          "mkdir /out/sub && ln -s ../list /out/sub/link && chmod 0750 /out/sub",
      },
    ],
  });
  const r = await ws.verify(recipe);
  assertStatus(r, 0);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stdout);
  // list, all, sub/link and the manifest.
  assert.match(
    lines[0]!,
    /^verified: t reproducible — 4 files identical \(variations: store-path, /,
  );
  // Both builds ran every step: nothing came from the cache.
  assert.match(r.stderr, /^\[a\] \[2\/2\] out done/m);
  assert.match(r.stderr, /^\[b\] \[2\/2\] out done/m);
  assert.doesNotMatch(r.stderr, /^\[[ab]\] \[\d\/\d\] \S+ cached$/m);
  assert.deepEqual(ws.leftovers(), []);
  // No layer of verify's is in the store's own layers/.
  assert.deepEqual([...Deno.readDirSync(join(ws.home, "layers"))], []);
});

test("a recipe that writes the wall-clock time is caught, with the differing file named", async (ws) => {
  const recipe = ws.recipe("r.ts", {
    steps: [{ name: "stamp", run: "echo same > /out/same.txt && date +%s > /out/stamp.txt" }],
  });
  const r = await ws.verify(recipe);
  assertStatus(r, 1);
  assert.match(r.stdout, /^NOT reproducible: 2 of 3 files differ \(variations: /m);
  assert.match(r.stdout, /^stamp\.txt: contents differ \(11 bytes on both sides\) from byte \d+$/m);
  assert.match(r.stdout, /^ {2}first difference at byte \d+ \(line 1\):$/m);
  assert.match(r.stdout, /^ {4}a: "\d{10}"$/m);
  // The manifest holds the stamp's digest, so it differs too; same.txt does not.
  assert.match(r.stdout, /^nsbuild-manifest\.json: contents differ/m);
  assert.doesNotMatch(r.stdout, /^same\.txt:/m);
  assert.deepEqual(ws.leftovers(), []);

  const json = await ws.verify(recipe, ["--json"]);
  assertStatus(json, 1);
  const report = parseReport(json);
  assert.equal(report.status, "differs");
  assert.equal(report.reproducible, false);
  assert.equal(report.files, 3);
  assert.equal(report.identical, 1);
  assert.deepEqual(report.differences.map((d) => d.path), ["nsbuild-manifest.json", "stamp.txt"]);
  assert.equal(report.differences[1]!.kind, "content");
  assert.ok(report.variations.some((v) => v.id === "time" && v.varied));
});

test("a recipe that reads the boot clock is caught: build b's clocks run ten years ahead", async (ws) => {
  const recipe = ws.recipe("r.ts", {
    steps: [{
      name: "uptime",
      run: "awk '{ print int($1 / 31536000) \" years\" }' /proc/uptime > /out/uptime-years",
    }],
  });
  const r = await ws.verify(recipe, ["--json"]);
  assertStatus(r, 1);
  const report = parseReport(r);
  const d = report.differences.find((d) => d.path === "uptime-years");
  assert.ok(d, `uptime-years not named: ${r.stdout}`);
  assert.ok(d.account.some((l) => /a: "0 years"/.test(l)), d.account.join("\n"));
  assert.ok(d.account.some((l) => /b: "10 years"/.test(l)), d.account.join("\n"));
});

test(
  "a recipe whose output follows the order of directory entries is caught (disorderfs)",
  async (ws) => {
    ws.sourceDir("tree", ["one", "two", "three", "four", "five", "six"]);
    const recipe = ws.recipe("r.ts", {
      sources: [{ path: "tree" }],
      // find lists entries as readdir gives them; sort would hide the order.
      steps: [{
        name: "list",
        run: "find /src/tree -type f > /out/order.txt; ls /src/tree > /out/sorted.txt",
      }],
    });
    const r = await ws.verify(recipe, ["--json"]);
    assertStatus(r, 1);
    const report = parseReport(r);
    const order = report.variations.find((v) => v.id === "directory-order");
    assert.equal(order?.varied, true, JSON.stringify(order));
    // The sorted listing and the manifest's record of the source are the same on both sides.
    assert.deepEqual(report.differences.map((d) => d.path), ["nsbuild-manifest.json", "order.txt"]);
    assert.deepEqual(ws.leftovers(), []);
  },
  !!noDisorder,
);

test("the caller's environment never reaches a build: a recipe writing env, umask and ids verifies", async (ws) => {
  const recipe = ws.recipe("r.ts", {
    steps: [{
      name: "env",
      run: "env | sort > /out/env.txt; umask > /out/umask.txt; id > /out/id.txt; " +
        "hostname > /out/hostname.txt; date +%Z > /out/tz.txt; echo $HOME $PWD > /out/dirs.txt",
    }],
  });
  const keep = join(ws.dir, "kept");
  const r = await ws.verify(recipe, ["--keep", keep], {
    NSBUILD_TEST_CALLER: "caller-secret",
    TZ: "America/Santiago",
    LANG: "de_DE.UTF-8",
  });
  assertStatus(r, 0);
  assert.match(r.stdout, /^verified: t reproducible — 7 files identical/);
  assert.match(r.stdout, new RegExp(`^outputs kept in ${keep}/a and ${keep}/b$`, "m"));
  for (const side of ["a", "b"]) {
    const env = Deno.readTextFileSync(join(keep, side, "env.txt"));
    assert.doesNotMatch(env, /caller-secret|NSBUILD_VERIFY_NOISE|Santiago|Kiritimati|de_DE|fr_FR/);
    assert.match(env, /^TZ=UTC$/m);
    assert.equal(Deno.readTextFileSync(join(keep, side, "umask.txt")), "0022\n");
  }
  assert.deepEqual(ws.leftovers(), []);
});

test("a build that fails only under build b's variations exits 1 and says which build failed", async (ws) => {
  // The boot clock is ten years ahead in build b only.
  const recipe = ws.recipe("r.ts", {
    steps: [{
      name: "check",
      run: `[ "$(awk '{ print int($1 / 31536000) }' /proc/uptime)" -lt 10 ] && echo ok > /out/ok`,
    }],
  });
  const r = await ws.verify(recipe);
  assertStatus(r, 1);
  assert.match(r.stdout, /^NOT verified: build b of t failed \(exit 1\); nothing was compared$/m);
  assert.match(r.stderr, /^\[b\] \[1\/1\] check FAILED \(exit 1\)/m);
  assert.match(r.stderr, /^\[a\] \[1\/1\] check done/m);
  assert.deepEqual(ws.leftovers(), []);
});

/**
 * Starts verify on a step that sleeps (`sleep MARKER`) in build a or only in build b (whose
 * boot clock is ten years ahead), sends SIGINT to nsbuild alone once the sleep runs, and
 * checks that verify exits 130 and leaves nothing behind.
 */
async function interruptDuring(ws: Workspace, side: "a" | "b"): Promise<void> {
  ws.sourceDir("tree", ["a", "b"]);
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b % 10).join("");
  const marker = `1000.${digits}`;
  const inB = `[ "$(awk '{ print int($1 / 31536000) }' /proc/uptime)" -ge 10 ]`;
  const recipe = ws.recipe("r.ts", {
    sources: [{ path: "tree" }],
    steps: [{
      name: "wait",
      run: side === "a" ? `sleep ${marker}` : `if ${inB}; then sleep ${marker}; fi`,
    }],
  });
  const running = ws.spawn(["verify", recipe]);
  try {
    const started = new RegExp(`^\\[${side}\\] \\[1/1\\] wait \\.\\.\\.$`, "m");
    const sleeping = await pollUntil(
      () => started.test(running.stderr) && processesWithArg(marker).length > 0,
      30_000,
    );
    assert.ok(sleeping, `build ${side}'s step never slept\nstderr: ${running.stderr}`);
    // To nsbuild only, not its process group: verify itself must stop build b.
    running.kill("SIGINT");
    const r = await running.finish();
    assertStatus(r, 130);
    assert.deepEqual(processesWithArg(marker), [], "a sandbox process outlived nsbuild verify");
    assert.deepEqual(ws.leftovers(), []);
  } finally {
    running.kill("SIGKILL");
    await running.finish().catch(() => {});
    killMarked(marker);
  }
}

test("SIGINT during build a exits 130 and leaves no private directory, view or sandbox process", async (ws) => {
  await interruptDuring(ws, "a");
});

test("SIGINT during build b (a child nsbuild) exits 130 and leaves nothing behind either", async (ws) => {
  await interruptDuring(ws, "b");
});
