/**
 * Helpers for the integration tests: a busybox root filesystem, a runner for
 * `bin/nsbuild` with its own store, and the reason (if any) why sandboxes
 * cannot run on this machine.
 */
import { join } from "node:path";

export const BUSYBOX = "/bin/busybox";

/** The checkout's launcher. */
export const NSBUILD_BIN = new URL("../../bin/nsbuild", import.meta.url).pathname;

/** How long any one nsbuild run may take before the helper kills it. */
const DEFAULT_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------
// Skipping

let reasonPromise: Promise<string | undefined> | undefined;

async function probe(): Promise<string | undefined> {
  if (Deno.uid() === 0) {
    return "the tests run as root; they prove rootlessness, so run them as an unprivileged " +
      "user with subordinate ids (e.g. `su nsb -c './node_modules/.bin/deno test --allow-all " +
      "tests/'`)";
  }
  try {
    await Deno.stat(BUSYBOX);
  } catch {
    return `${BUSYBOX} is missing: install busybox-static (apt-get install busybox-static)`;
  }
  let out;
  try {
    out = await new Deno.Command("unshare", {
      args: ["--user", "true"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (e) {
    return `cannot probe user namespaces: \`unshare\` (util-linux) failed to start: ${
      (e as Error).message
    }`;
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim();
    return `the kernel refuses unprivileged user namespaces (\`unshare --user true\` exited ${out.code}${
      why ? `: ${why}` : ""
    })`;
  }
  return undefined;
}

/**
 * Why the sandbox tests cannot run here, or undefined when they can. Printed
 * once per test process, so an ignored test always comes with its reason.
 */
export function skipReason(): Promise<string | undefined> {
  if (!reasonPromise) {
    reasonPromise = probe().then((reason) => {
      if (reason) console.warn(`nsbuild integration tests skipped: ${reason}`);
      return reason;
    });
  }
  return reasonPromise;
}

// ---------------------------------------------------------------------------
// The busybox root filesystem

let rootfsPromise: Promise<string> | undefined;

async function buildRootfs(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "nsbuild-test-rootfs-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Best effort: a temp dir left behind is not worth failing for.
    }
  });
  await Deno.chmod(dir, 0o755);
  for (const sub of ["bin", "etc", "root", "tmp"]) await Deno.mkdir(join(dir, sub));
  await Deno.chmod(join(dir, "root"), 0o700);
  await Deno.chmod(join(dir, "tmp"), 0o1777);
  await Deno.copyFile(BUSYBOX, join(dir, "bin", "busybox"));
  await Deno.chmod(join(dir, "bin", "busybox"), 0o755);
  const list = await new Deno.Command(BUSYBOX, { args: ["--list"], stderr: "inherit" }).output();
  if (!list.success) throw new Error(`${BUSYBOX} --list failed with status ${list.code}`);
  const applets = new TextDecoder().decode(list.stdout).split("\n").map((s) => s.trim());
  for (const applet of applets) {
    // `busybox --list` names busybox itself: a link onto itself would loop.
    if (applet === "" || applet === "busybox" || applet.includes("/")) continue;
    await Deno.symlink("busybox", join(dir, "bin", applet));
  }
  await Deno.writeTextFile(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await Deno.writeTextFile(join(dir, "etc", "group"), "root:x:0:\n");
  return dir;
}

/**
 * A busybox root filesystem (bin/busybox and a link per applet, etc/, root/,
 * tmp/) in a temp dir, built once per test process and removed at exit.
 */
export function busyboxRootfs(): Promise<string> {
  rootfsPromise ??= buildRootfs();
  return rootfsPromise;
}

/**
 * Every entry under dir with its kind, mode, size, mtime and link target,
 * sorted: two snapshots are equal when nothing was modified.
 */
export async function snapshotTree(dir: string): Promise<string[]> {
  const lines: string[] = [];
  async function walk(rel: string): Promise<void> {
    const path = rel ? join(dir, rel) : dir;
    const info = await Deno.lstat(path);
    const kind = info.isSymlink ? "l" : info.isDirectory ? "d" : info.isFile ? "f" : "?";
    const target = info.isSymlink ? ` -> ${await Deno.readLink(path)}` : "";
    lines.push(
      `${rel || "."} ${kind} ${info.mode?.toString(8)} ${info.uid}:${info.gid} ${info.size} ` +
        `${info.mtime?.getTime()} ${info.ino}${target}`,
    );
    if (info.isDirectory) {
      for await (const entry of Deno.readDir(path)) {
        await walk(rel ? join(rel, entry.name) : entry.name);
      }
    }
  }
  await walk("");
  return lines.sort();
}

// ---------------------------------------------------------------------------
// Running nsbuild

export interface NsbuildOptions {
  /** Bytes or text for the command's stdin; "piped" to write it yourself; default none. */
  stdin?: string | Uint8Array | "piped";
  /** Extra variables in the environment of nsbuild itself (the host side). */
  env?: Record<string, string>;
  /** Kill nsbuild after this long. */
  timeoutMs?: number;
}

export interface NsbuildResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
  /** The NSBUILD_HOME the run used (already removed). */
  home: string;
  /** What was left in $NSBUILD_HOME/runs when nsbuild had exited. */
  runsLeft: string[];
}

/** Host variables nsbuild (Deno) itself needs; nothing else of the test's environment. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NSBUILD_EXECUTOR"];

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Reads a stream into chunks until end of file or until cancelled. */
class Collector {
  readonly chunks: Uint8Array[] = [];
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array>) {
    const reader = stream.getReader();
    this.#reader = reader;
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.chunks.push(value);
        }
      } catch {
        // Cancelled.
      }
    })();
  }
  bytes(): Uint8Array {
    return concat(this.chunks);
  }
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.done;
  }
}

/** Resolves after ms, with a timer the caller can clear. */
function delay(ms: number): { promise: Promise<void>; clear: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<void>((resolve) => {
    id = setTimeout(resolve, ms);
  });
  return { promise, clear: () => clearTimeout(id) };
}

export function sleep(ms: number): Promise<void> {
  return delay(ms).promise;
}

/**
 * Polls fn every intervalMs until it returns a truthy value or timeoutMs
 * passes; returns the last value either way.
 */
export async function pollUntil<T>(
  fn: () => T | Promise<T>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value || Date.now() >= deadline) return value;
    await sleep(intervalMs);
  }
}

/** One running `bin/nsbuild` with a fresh NSBUILD_HOME; finish() collects it. */
export class RunningNsbuild {
  readonly home: string;
  readonly child: Deno.ChildProcess;
  /** The pid of the Deno process running nsbuild (bin/nsbuild execs it). */
  readonly pid: number;
  readonly #stdout: Collector;
  readonly #stderr: Collector;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #timer: ReturnType<typeof setTimeout>;
  #timedOut = false;
  /** Set once nsbuild has exited: polls for things it should do stop early. */
  exited = false;

  constructor(readonly args: string[], options: NsbuildOptions = {}) {
    this.home = Deno.makeTempDirSync({ prefix: "nsbuild-test-home-" });
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, options.env ?? {}, { NSBUILD_HOME: this.home });
    this.child = new Deno.Command(NSBUILD_BIN, {
      args,
      env,
      clearEnv: true,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.child.pid;
    this.child.status.then(() => this.exited = true);
    this.#stdout = new Collector(this.child.stdout);
    this.#stderr = new Collector(this.child.stderr);
    if (options.stdin !== undefined) {
      this.#stdin = this.child.stdin.getWriter();
      if (options.stdin !== "piped") {
        const data = typeof options.stdin === "string"
          ? new TextEncoder().encode(options.stdin)
          : options.stdin;
        // The command may exit without reading everything: ignore EPIPE.
        this.#stdin.write(data).then(() => this.closeStdin()).catch(() => {});
      }
    }
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      try {
        this.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  stdoutText(): string {
    return this.#stdout.text();
  }

  stderrText(): string {
    return this.#stderr.text();
  }

  async write(text: string): Promise<void> {
    await this.#stdin?.write(new TextEncoder().encode(text));
  }

  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  /**
   * Waits (bounded) until stdout contains text; throws with both streams when
   * it does not show up in time or nsbuild exits without printing it.
   */
  async waitForStdout(text: string, timeoutMs = 10_000): Promise<void> {
    await pollUntil(() => this.stdoutText().includes(text) || this.exited, timeoutMs, 10);
    if (this.exited) await this.#stdout.done;
    if (!this.stdoutText().includes(text)) {
      throw new Error(
        `nsbuild did not print ${JSON.stringify(text)} within ${timeoutMs} ms\n` +
          `stdout: ${this.stdoutText()}\nstderr: ${this.stderrText()}`,
      );
    }
  }

  #finished: Promise<NsbuildResult> | undefined;

  /** Waits for nsbuild to exit and for its output, then removes its store (once). */
  finish(): Promise<NsbuildResult> {
    this.#finished ??= this.#finish();
    return this.#finished;
  }

  /** Cleanup for a test that failed half-way: SIGKILL nsbuild if it runs, then finish. */
  async abort(): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }
    await this.finish().catch(() => {});
  }

  async #finish(): Promise<NsbuildResult> {
    await this.closeStdin();
    const status = await this.child.status;
    clearTimeout(this.#timer);
    // Anything still holding the pipes after nsbuild exited gets 5 s, then is cut off.
    const grace = delay(5_000);
    await Promise.race([Promise.all([this.#stdout.done, this.#stderr.done]), grace.promise]);
    grace.clear();
    await this.#stdout.cancel();
    await this.#stderr.cancel();
    const runsLeft: string[] = [];
    try {
      for await (const entry of Deno.readDir(join(this.home, "runs"))) runsLeft.push(entry.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await Deno.remove(this.home, { recursive: true }).catch(() => {});
    if (this.#timedOut) {
      throw new Error(
        `nsbuild ${this.args.join(" ")} was killed after its time limit\n` +
          `stdout: ${this.#stdout.text()}\nstderr: ${this.#stderr.text()}`,
      );
    }
    const stdoutBytes = this.#stdout.bytes();
    return {
      code: status.code,
      signal: status.signal,
      stdout: new TextDecoder().decode(stdoutBytes),
      stderr: this.#stderr.text(),
      stdoutBytes,
      home: this.home,
      runsLeft,
    };
  }
}

/** Runs `bin/nsbuild ARGS` to completion with a fresh NSBUILD_HOME. */
export function nsbuild(args: string[], options: NsbuildOptions = {}): Promise<NsbuildResult> {
  return new RunningNsbuild(args, options).finish();
}

/** `nsbuild run --rootfs <busybox rootfs> [flags] -- argv...` */
export async function runIn(
  flags: string[],
  argv: string[],
  options: NsbuildOptions = {},
): Promise<NsbuildResult> {
  return await nsbuild(
    ["run", "--rootfs", await busyboxRootfs(), ...flags, "--", ...argv],
    options,
  );
}
