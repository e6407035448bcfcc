/**
 * Integration tests of `nsbuild build` and `nsbuild shell` on a busybox
 * directory base: the step cache, sources, recipe errors, failing and
 * interrupted steps, and what /out may and may not do on the way home.
 * Each test has its own store ($NSBUILD_HOME in a temp dir), emptied with
 * `nsbuild cache prune --all` at the end. All are ignored (with the reason
 * printed once) when run as root or where user namespaces are refused.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { BuildEvent } from "../src/build/progress.ts";
import { busyboxRootfs, NSBUILD_BIN, pollUntil, skipReason } from "./helpers/rootfs.ts";
import { killMarked, processesWithArg } from "./helpers/proc.ts";

const reason = await skipReason();
const ignore = !!reason;

/** Host variables nsbuild (Deno) itself needs; nothing else of the test's environment. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NSBUILD_EXECUTOR"];

/** How long one nsbuild run may take before it is killed (a hang guard, not an assertion). */
const RUN_LIMIT_MS = 60_000;

type StepEnd = Extract<BuildEvent, { type: "step-end" }>;
type StepStart = Extract<BuildEvent, { type: "step-start" }>;
type BuildEnd = Extract<BuildEvent, { type: "build-end" }>;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON events (only with --json). */
  events: BuildEvent[];
}

function parseEvents(stdout: string): BuildEvent[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

function stepEnds(events: BuildEvent[]): StepEnd[] {
  return events.filter((e): e is StepEnd => e.type === "step-end");
}

function statuses(events: BuildEvent[]): string[] {
  return stepEnds(events).map((e) => e.status);
}

function describeRun(r: { code: number; stdout: string; stderr: string }): string {
  return `status ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

function assertStatus(r: RunResult, code: number): void {
  assert.equal(r.code, code, `expected status ${code}, got ${describeRun(r)}`);
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Every path under dir, relative, with its kind: "f", "d" or "l". */
function walk(dir: string, rel = ""): { path: string; kind: "f" | "d" | "l" }[] {
  const out: { path: string; kind: "f" | "d" | "l" }[] = [];
  for (const name of entries(join(dir, rel))) {
    const path = rel ? `${rel}/${name}` : name;
    const info = Deno.lstatSync(join(dir, path));
    const kind = info.isSymlink ? "l" : info.isDirectory ? "d" : "f";
    out.push({ path, kind });
    if (kind === "d") out.push(...walk(dir, path));
  }
  return out;
}

/** A running nsbuild whose stdout can be watched as it comes. */
class Running {
  readonly child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #exited = false;
  #timedOut = false;
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #pumps: Promise<void>;

  constructor(
    readonly args: string[],
    options: { home: string; cwd: string; stdin?: string; limitMs?: number },
  ) {
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    env.NSBUILD_HOME = options.home;
    this.child = new Deno.Command(NSBUILD_BIN, {
      args,
      cwd: options.cwd,
      env,
      clearEnv: true,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.stdin !== undefined) {
      const writer = this.child.stdin.getWriter();
      // The command may exit before reading it all: a broken pipe is no failure here.
      writer.write(new TextEncoder().encode(options.stdin)).then(() => writer.close()).catch(
        () => {},
      );
    }
    this.child.status.then(() => this.#exited = true);
    const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) add(text);
    };
    this.#pumps = Promise.all([
      pump(this.child.stdout, (s) => this.#stdout += s),
      pump(this.child.stderr, (s) => this.#stderr += s),
    ]).then(() => {});
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.kill("SIGKILL");
    }, options.limitMs ?? RUN_LIMIT_MS);
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // It has exited.
    }
  }

  /** Waits (bounded) for a JSON event on stdout that matches; throws with both streams if none comes. */
  async waitForEvent<T extends BuildEvent>(
    match: (e: BuildEvent) => e is T,
    limitMs = 20_000,
  ): Promise<T> {
    const find = () => parseEvents(completeLines(this.#stdout)).find(match);
    const found = await pollUntil(() => find() ?? (this.#exited ? "exited" : undefined), limitMs);
    if (found === undefined || found === "exited") {
      throw new Error(
        `the awaited event did not come\nstdout: ${this.#stdout}\nstderr: ${this.#stderr}`,
      );
    }
    return found;
  }

  async finish(): Promise<RunResult> {
    const status = await this.child.status;
    clearTimeout(this.#timer);
    await this.#pumps;
    const result = { code: status.code, stdout: this.#stdout, stderr: this.#stderr };
    if (this.#timedOut) {
      throw new Error(
        `nsbuild ${this.args.join(" ")} was killed after its time limit\n` +
          describeRun(result),
      );
    }
    const events = this.args.includes("--json") ? parseEvents(this.#stdout) : [];
    return { ...result, events };
  }
}

function completeLines(text: string): string {
  return text.slice(0, text.lastIndexOf("\n") + 1);
}

/** A temp directory for recipes and outputs, with its own store under it. */
class Workspace {
  readonly home: string;
  readonly out: string;

  constructor(readonly dir: string, readonly rootfs: string) {
    this.home = join(dir, "home");
    this.out = join(dir, "out");
  }

  static async create(): Promise<Workspace> {
    const dir = await Deno.makeTempDir({ prefix: "nsbuild-build-test-" });
    return new Workspace(dir, await busyboxRootfs());
  }

  /** Writes a recipe module (on a busybox base unless it names one) and returns its path. */
  recipe(file: string, recipe: Record<string, unknown>): string {
    const full = { name: "t", version: "1", base: { directory: this.rootfs }, ...recipe };
    const path = join(this.dir, file);
    Deno.writeTextFileSync(path, `export default ${JSON.stringify(full, null, 2)};\n`);
    return path;
  }

  spawn(args: string[], options: { stdin?: string; limitMs?: number } = {}): Running {
    return new Running(args, { home: this.home, cwd: this.dir, ...options });
  }

  run(args: string[], options: { stdin?: string } = {}): Promise<RunResult> {
    return this.spawn(args, options).finish();
  }

  /** `nsbuild build RECIPE --out <workspace>/out --json [extra]` */
  build(recipe: string, extra: string[] = []): Promise<RunResult> {
    return this.run(["build", recipe, "--out", this.out, "--json", ...extra]);
  }

  async dispose(failed: boolean): Promise<void> {
    // A run that stopped at the recipe made no store, and there is nothing to prune (prune
    // itself fails on a store that does not exist).
    const prune = exists(this.home) ? await this.run(["cache", "prune", "--all"]) : undefined;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    if (prune && !failed) {
      assert.equal(prune.code, 0, `cache prune --all failed: ${describeRun(prune)}`);
    }
  }
}

function test(name: string, fn: (ws: Workspace) => Promise<void>): void {
  Deno.test({
    name,
    ignore,
    fn: async () => {
      const ws = await Workspace.create();
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

// ---------------------------------------------------------------------------
// The base these tests build on

Deno.test({
  name: "busyboxRootfs() links /bin/sh and the applets the build tests use, tar among them",
  ignore,
  fn: async () => {
    const rootfs = await busyboxRootfs();
    // tar carries /out home; sh runs string steps; the rest are in the recipes below.
    for (const applet of ["sh", "tar", "sleep", "ls", "cat", "ln", "printf", "sha256sum"]) {
      const link = join(rootfs, "bin", applet);
      assert.ok(Deno.lstatSync(link).isSymlink, `${link} is not a link`);
      assert.equal(Deno.readLinkSync(link), "busybox", `${link} does not point at busybox`);
    }
    assert.ok(Deno.statSync(join(rootfs, "bin", "busybox")).isFile);
  },
});

// ---------------------------------------------------------------------------
// The step cache

const FOUR_STEPS = [
  { name: "one", run: "echo 1 > /build/one" },
  { name: "two", run: "echo 2 > /build/two" },
  { name: "three", run: "echo v1 > /build/three" },
  { name: "four", run: "cat /build/one /build/two /build/three > /out/all" },
];

test("a second unchanged build takes every step from the cache", async (ws) => {
  const recipe = ws.recipe("r.ts", { steps: FOUR_STEPS });
  const first = await ws.build(recipe);
  assertStatus(first, 0);
  assert.deepEqual(statuses(first.events), ["done", "done", "done", "done"]);
  const second = await ws.build(recipe);
  assertStatus(second, 0);
  assert.deepEqual(statuses(second.events), ["cached", "cached", "cached", "cached"]);
  assert.ok(!second.events.some((e) => e.type === "step-log"), "a cached step ran its command");
  assert.equal(Deno.readTextFileSync(join(ws.out, "all")), "1\n2\nv1\n");
});

test("editing step 3 of 4 reruns step 3 and the step after it only", async (ws) => {
  const recipe = ws.recipe("r.ts", { steps: FOUR_STEPS });
  assertStatus(await ws.build(recipe), 0);
  const edited = FOUR_STEPS.map((s) =>
    s.name === "three" ? { ...s, run: "echo v2 > /build/three" } : s
  );
  ws.recipe("r.ts", { steps: edited });
  const again = await ws.build(recipe);
  assertStatus(again, 0);
  assert.deepEqual(statuses(again.events), ["cached", "cached", "done", "done"]);
  assert.equal(Deno.readTextFileSync(join(ws.out, "all")), "1\n2\nv2\n");
});

test("--no-cache reruns every step though all are cached", async (ws) => {
  const recipe = ws.recipe("r.ts", { steps: FOUR_STEPS.slice(0, 3) });
  assertStatus(await ws.build(recipe), 0);
  const again = await ws.build(recipe, ["--no-cache"]);
  assertStatus(again, 0);
  assert.deepEqual(statuses(again.events), ["done", "done", "done"]);
});

// ---------------------------------------------------------------------------
// Sources

/** An HTTP server on 127.0.0.1 serving one file; counts the requests. */
function serveFile(path: string, body: Uint8Array) {
  let requests = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      requests++;
      if (new URL(req.url).pathname !== path) return new Response("not here", { status: 404 });
      return new Response(body.slice());
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}${path}`,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

test("a URL source is fetched once, verified by sha256 and read-only at /src/NAME", async (ws) => {
  const body = new TextEncoder().encode("greetings from the loopback server\n");
  const digest = sha256(body);
  const server = serveFile("/files/greeting.txt", body);
  try {
    const sources = [{ url: server.url, sha256: digest }];
    const reader = ws.recipe("reader.ts", {
      sources,
      steps: [{ name: "read", run: "cp /src/greeting.txt /out/copy" }],
    });
    const r = await ws.build(reader);
    assertStatus(r, 0);
    const source = r.events.find((e) => e.type === "source");
    assert.deepEqual(
      source && { name: source.name, digest: source.digest, cached: source.cached },
      { name: "greeting.txt", digest, cached: false },
    );
    assert.deepEqual(Deno.readFileSync(join(ws.out, "copy")), body);
    assert.equal(sha256(Deno.readFileSync(join(ws.home, "sources", digest, "content"))), digest);

    const writer = ws.recipe("writer.ts", {
      sources,
      steps: [{ name: "write", run: "echo changed > /src/greeting.txt" }],
    });
    const w = await ws.build(writer);
    assertStatus(w, 1);
    assert.deepEqual(statuses(w.events), ["failed"]);
    const log = w.events.filter((e) => e.type === "step-log").map((e) => e.line).join("\n");
    assert.match(log, /Read-only file system/);
    // The second build used the stored copy, which is as it was.
    assert.equal(server.requests(), 1);
    assert.equal(sha256(Deno.readFileSync(join(ws.home, "sources", digest, "content"))), digest);
  } finally {
    await server.close();
  }
});

test("a URL source with the wrong sha256 fails before any step and caches nothing", async (ws) => {
  const body = new TextEncoder().encode("not what the recipe expects\n");
  const actual = sha256(body);
  const expected = sha256("something else");
  const server = serveFile("/files/data.txt", body);
  try {
    const recipe = ws.recipe("r.ts", {
      sources: [{ url: server.url, sha256: expected }],
      steps: [{ name: "use", run: "cat /src/data.txt" }],
    });
    const r = await ws.build(recipe);
    assert.notEqual(r.code, 0, describeRun(r));
    assert.ok(!r.events.some((e) => e.type === "step-start"), `a step started: ${r.stdout}`);
    assert.ok(r.stderr.includes(expected), `the expected digest is not named: ${r.stderr}`);
    assert.ok(r.stderr.includes(actual), `the actual digest is not named: ${r.stderr}`);
    assert.deepEqual(entries(join(ws.home, "sources")), []);
    assert.deepEqual(entries(join(ws.home, "layers")), []);
    assert.ok(!exists(ws.out));
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------------------
// Recipe errors

async function assertRecipeError(ws: Workspace, file: string, field: string): Promise<void> {
  const r = await ws.run(["build", join(ws.dir, file), "--out", ws.out]);
  assertStatus(r, 2);
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `expected one line of error, got:\n${r.stderr}`);
  assert.ok(lines[0]!.includes(file), `the file is not named: ${lines[0]}`);
  assert.ok(lines[0]!.includes(`${field}:`), `the field ${field} is not named: ${lines[0]}`);
  assert.ok(!/^\s+at /m.test(r.stderr), `a stack trace: ${r.stderr}`);
  assert.equal(r.stdout, "");
}

test("a recipe missing a field exits 2 with one message naming the file and field", async (ws) => {
  ws.recipe("missing.ts", { steps: [{ name: "a" }] });
  await assertRecipeError(ws, "missing.ts", "steps[0].run");
});

test("a recipe field of the wrong type exits 2 with one message naming it", async (ws) => {
  ws.recipe("wrong.ts", { steps: [{ name: "a", run: "true" }, { name: "b", run: 5 }] });
  await assertRecipeError(ws, "wrong.ts", "steps[1].run");
});

test("an unknown recipe field exits 2 with one message naming it", async (ws) => {
  ws.recipe("unknown.ts", { steps: [{ name: "a", run: "true", netwrok: true }] });
  await assertRecipeError(ws, "unknown.ts", "steps[0].netwrok");
});

// ---------------------------------------------------------------------------
// A failing step

test("a failing step exits 1 with its last lines, its log and the shell hint; earlier steps stay cached", async (ws) => {
  const prepare = { name: "prepare", run: "echo ready > /build/ready" };
  const recipe = ws.recipe("r.ts", {
    steps: [
      prepare,
      { name: "compile", run: "for i in $(seq 1 50); do echo line-$i; done; exit 3" },
    ],
  });
  const r = await ws.run(["build", recipe, "--out", ws.out]);
  assertStatus(r, 1);
  const lines = r.stderr.split("\n");
  // The tail of the log, not all of it.
  assert.ok(lines.includes("  | line-50"), r.stderr);
  assert.ok(!lines.includes("  | line-1"), `the whole log was shown: ${r.stderr}`);
  const logLine = lines.find((l) => l.startsWith("log: "));
  assert.ok(logLine, `no log path: ${r.stderr}`);
  const log = Deno.readTextFileSync(logLine.slice("log: ".length));
  assert.equal(log, Array.from({ length: 50 }, (_, i) => `line-${i + 1}\n`).join(""));
  assert.ok(
    lines.includes(`hint: nsbuild shell ${recipe} --step compile`),
    `no shell hint: ${r.stderr}`,
  );
  assert.ok(!exists(ws.out));

  ws.recipe("r.ts", { steps: [prepare, { name: "compile", run: "cp /build/ready /out/" }] });
  const fixed = await ws.build(recipe);
  assertStatus(fixed, 0);
  assert.deepEqual(statuses(fixed.events), ["cached", "done"]);
  assert.equal(Deno.readTextFileSync(join(ws.out, "ready")), "ready\n");
});

// ---------------------------------------------------------------------------
// Bringing /out home

test("an output symlink to /etc/passwd is exported as that symlink, never followed", async (ws) => {
  const recipe = ws.recipe("r.ts", {
    steps: [{ name: "link", run: "ln -s /etc/passwd /out/passwd-link; echo ok > /out/ok" }],
  });
  const r = await ws.build(recipe);
  assertStatus(r, 0);
  const link = join(ws.out, "passwd-link");
  assert.ok(Deno.lstatSync(link).isSymlink);
  assert.equal(Deno.readLinkSync(link), "/etc/passwd");
  // Nothing but the link, the file and the manifest: no copy of any passwd file.
  assert.deepEqual(walk(ws.out), [
    { path: "nsbuild-manifest.json", kind: "f" },
    { path: "ok", kind: "f" },
    { path: "passwd-link", kind: "l" },
  ]);
  const passwd = Deno.readTextFileSync("/etc/passwd");
  assert.ok(!Deno.readTextFileSync(join(ws.out, "nsbuild-manifest.json")).includes(passwd));
});

test("a symlinked directory in /out with files beneath it cannot make nsbuild write outside the out dir", async (ws) => {
  // In the sandbox /out/up is "/", so /out/up/escaped.txt is /escaped.txt; unpacked
  // through the link on the host, it would land beside the out dir.
  const recipe = ws.recipe("r.ts", {
    steps: [{
      name: "trap",
      run: "echo escaped > /escaped.txt; ln -s .. /out/up; echo ok > /out/ok",
    }],
    outputs: ["/out/ok", "/out/up", "/out/up/escaped.txt"],
  });
  const r = await ws.build(recipe);
  assertStatus(r, 1);
  assert.match(r.stderr, /symlink/);
  assert.ok(!/^\s+at /m.test(r.stderr), `a stack trace: ${r.stderr}`);
  // Nothing beside the recipe and the store: no escaped file, no half-made out dir.
  assert.deepEqual(entries(ws.dir), ["home", "r.ts"]);
});

test("the manifest lists each output's sha256 and size and the build's inputs", async (ws) => {
  const input = "input for the manifest test\n";
  Deno.writeTextFileSync(join(ws.dir, "input.txt"), input);
  const recipe = ws.recipe("r.ts", {
    sources: [{ path: "input.txt" }],
    steps: [
      { name: "text", run: "cp /src/input.txt /out/a.txt" },
      {
        name: "more",
        run: "mkdir -p /out/sub; printf '\\000\\001\\377binary' > /out/sub/b.bin; " +
          ": > /out/empty; ln -s a.txt /out/link",
      },
    ],
  });
  const r = await ws.build(recipe);
  assertStatus(r, 0);
  const manifest = JSON.parse(Deno.readTextFileSync(join(ws.out, "nsbuild-manifest.json")));

  assert.equal(manifest.recipe.sha256, sha256(Deno.readFileSync(recipe)));
  const base = r.events.find((e) => e.type === "base");
  assert.ok(base);
  assert.equal(manifest.base.digest, base.digest);
  assert.deepEqual(
    manifest.sources.map((s: { name: string; digest: string }) => [s.name, s.digest]),
    [["input.txt", sha256(input)]],
  );
  const keys = r.events.filter((e): e is StepStart => e.type === "step-start").map((e) => e.key);
  assert.deepEqual(manifest.steps.map((s: { key: string }) => s.key), keys);

  const files = walk(ws.out).filter((e) => e.kind === "f" && e.path !== "nsbuild-manifest.json");
  assert.deepEqual(files.map((f) => f.path).sort(), ["a.txt", "empty", "sub/b.bin"]);
  for (const { path } of files) {
    const entry = manifest.outputs.find((o: { path: string }) => o.path === path);
    assert.ok(entry, `${path} is not in the manifest`);
    const bytes = Deno.readFileSync(join(ws.out, path));
    assert.equal(entry.type, "file");
    assert.equal(entry.sha256, sha256(bytes), path);
    assert.equal(entry.size, bytes.length, path);
  }
  assert.deepEqual(
    manifest.outputs.find((o: { path: string }) => o.path === "link"),
    { path: "link", type: "symlink", target: "a.txt" },
  );
  assert.equal(manifest.outputs.length, 4);
});

// ---------------------------------------------------------------------------
// Ctrl-C

test("SIGINT during a step exits 130, leaves no sandbox process and keeps the steps done", async (ws) => {
  // A sleep no other test runs, so `ps` finds this one only.
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b % 10).join("");
  const marker = `1000.${digits}`;
  const first = { name: "first", run: "echo done > /build/first" };
  const recipe = ws.recipe("r.ts", {
    steps: [first, { name: "wait", run: ["sleep", marker] }],
  });
  const running = ws.spawn(["build", recipe, "--out", ws.out, "--json"]);
  try {
    await running.waitForEvent((e): e is StepStart =>
      e.type === "step-start" && e.index === 2 && !e.cached
    );
    const started = await pollUntil(() => processesWithArg(marker).length > 0, 20_000);
    assert.ok(started, "the step's sleep never showed up in the process table");
    running.kill("SIGINT");
    const r = await running.finish();
    assertStatus(r, 130);
    assert.deepEqual(processesWithArg(marker), [], "a sandbox process outlived nsbuild");
    assert.deepEqual(statuses(r.events), ["done", "interrupted"]);
    const end = r.events.find((e): e is BuildEnd => e.type === "build-end");
    assert.equal(end?.status, "interrupted");
    assert.ok(!exists(ws.out));
  } finally {
    running.kill("SIGKILL");
    await running.finish().catch(() => {});
    killMarked(marker);
  }
  ws.recipe("r.ts", { steps: [first, { name: "wait", run: "cp /build/first /out/" }] });
  const again = await ws.build(recipe);
  assertStatus(again, 0);
  assert.deepEqual(statuses(again.events), ["cached", "done"]);
});

// ---------------------------------------------------------------------------
// nsbuild shell

test("nsbuild shell --step NAME with piped stdin runs it in that step's sandbox over the layers before it", async (ws) => {
  const recipe = ws.recipe("r.ts", {
    steps: [
      { name: "first", run: "echo made > /build/made-by-first" },
      {
        name: "second",
        cwd: "/build/work",
        env: { STEP_VAR: "from-second" },
        run: "echo made > /build/made-by-second",
      },
    ],
  });
  const r = await ws.run(["shell", recipe, "--step", "second"], {
    // One line each: an interactive sh may print its prompt before any of them.
    stdin: 'echo "files:" $(ls /build); echo "var=$STEP_VAR pwd=$PWD"; echo marker\n',
  });
  assertStatus(r, 0);
  // The first step's file is there; the step itself has not run.
  assert.ok(r.stdout.includes("files: made-by-first work\n"), r.stdout);
  assert.ok(r.stdout.includes("var=from-second pwd=/build/work"), r.stdout);
  assert.ok(r.stdout.includes("marker"), r.stdout);
});
