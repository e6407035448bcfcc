/**
 * Helpers for the adversarial tests: the attack programs of attacks/*.c
 * (static, so they run in a busybox rootfs), compiled once per test process
 * and bound read-only at /opt/attacks; fingerprints of host files; nsbuild
 * run on a pseudo-terminal the test holds, or from a shell holding extra
 * descriptors.
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import { NSBUILD_BIN, pollUntil } from "./rootfs.ts";

/** Where the attack programs are inside the sandbox. */
export const ATTACKS = "/opt/attacks";

const SOURCES = new URL("./attacks/", import.meta.url).pathname;

/** Host variables nsbuild (Deno) needs; nothing else of the test's environment. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NSBUILD_EXECUTOR"];

let compiled: Promise<string> | undefined;

async function compileAll(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "nsbuild-test-attacks-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Best effort.
    }
  });
  await Deno.chmod(dir, 0o755);
  const names: string[] = [];
  for await (const entry of Deno.readDir(SOURCES)) {
    if (entry.isFile && entry.name.endsWith(".c")) names.push(entry.name.slice(0, -2));
  }
  await Promise.all(names.map(async (name) => {
    const out = await new Deno.Command("gcc", {
      args: ["-static", "-O2", "-Wall", "-o", join(dir, name), join(SOURCES, `${name}.c`)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `gcc -static ${name}.c failed (apt-get install gcc libc6-dev):\n` +
          new TextDecoder().decode(out.stderr),
      );
    }
  }));
  return dir;
}

/** The host directory holding the compiled attack programs. */
export function attackDir(): Promise<string> {
  compiled ??= compileAll();
  return compiled;
}

/** `nsbuild run` flags that bind the attack programs at /opt/attacks. */
export async function attackBind(): Promise<string[]> {
  return ["--ro-bind", `${await attackDir()}:${ATTACKS}`];
}

/** The host path of one attack program, for controls run outside any sandbox. */
export async function hostAttack(name: string): Promise<string> {
  return join(await attackDir(), name);
}

/** A file's content digest, size, mtime and inode: equal when it was not touched. */
export async function fingerprint(path: string): Promise<string> {
  const info = await Deno.stat(path);
  const hash = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
  return `${path} sha256=${hash} size=${info.size} mtime=${info.mtime?.getTime()} ino=${info.ino}`;
}

/** The environment nsbuild gets in the tests, with a store of its own. */
function nsbuildEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  env.NSBUILD_HOME = home;
  return env;
}

export interface PtyResult {
  /** What the program wrote to the terminal. */
  output: string;
  /** What was left in the terminal's input queue, as ptyhold shows it. */
  input: string;
  /** The program's exit status. */
  code: number;
}

/**
 * Runs argv (bin/nsbuild when nsbuildArgs is true) on a pseudo-terminal the
 * test holds (attacks/ptyhold.c): "out" makes it stdout and stderr only,
 * "all" stdin too. Returns what was pushed into the terminal's input.
 */
export async function onHeldPty(
  mode: "out" | "all",
  argv: string[],
  options: { nsbuild?: boolean; timeoutMs?: number } = {},
): Promise<PtyResult> {
  const home = await Deno.makeTempDir({ prefix: "nsbuild-test-home-" });
  try {
    const command = options.nsbuild ? [NSBUILD_BIN, ...argv] : argv;
    const child = new Deno.Command(await hostAttack("ptyhold"), {
      args: [mode, ...command],
      env: nsbuildEnv(home),
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Gone already.
      }
    }, options.timeoutMs ?? 20_000);
    const out = await child.output();
    clearTimeout(timer);
    const text = new TextDecoder().decode(out.stdout).replace(/\r/g, "");
    const input = text.match(/^pty-input=\[(.*)\]$/m);
    const status = text.match(/^status=(\d+)$/m);
    if (!input || !status) {
      throw new Error(
        `ptyhold did not report (status ${out.code}):\n${text}\n` +
          new TextDecoder().decode(out.stderr),
      );
    }
    return {
      output: text.slice(0, input.index),
      input: input[1]!,
      code: Number(status[1]),
    };
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

/**
 * bin/nsbuild ARGS started by bash after `setup` (e.g. `exec 7</etc/passwd`),
 * so that nsbuild inherits whatever descriptors setup opened without
 * close-on-exec. stdin is piped and held open until finish().
 */
export class NsbuildFromShell {
  readonly home = Deno.makeTempDirSync({ prefix: "nsbuild-test-home-" });
  readonly child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #stdout = "";
  #stderr = "";
  readonly #reading: Promise<void>;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(setup: string, args: string[], timeoutMs = 20_000) {
    this.child = new Deno.Command("bash", {
      args: ["-c", `${setup}\nexec "$@"`, "bash", NSBUILD_BIN, ...args],
      env: nsbuildEnv(this.home),
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    const read = async (stream: ReadableStream<Uint8Array>, into: (s: string) => void) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) into(decoder.decode(chunk, { stream: true }));
    };
    this.#reading = Promise.all([
      read(this.child.stdout, (s) => this.#stdout += s),
      read(this.child.stderr, (s) => this.#stderr += s),
    ]).then(() => {});
    this.#timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // Gone already.
      }
    }, timeoutMs);
  }

  /** The pid of nsbuild (bash exec'd it). */
  get pid(): number {
    return this.child.pid;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Waits until stdout shows text or nsbuild exits. */
  async waitForStdout(text: string, timeoutMs = 10_000): Promise<boolean> {
    let exited = false;
    this.child.status.then(() => exited = true);
    return await pollUntil(() => this.#stdout.includes(text) || exited, timeoutMs, 10) &&
      this.#stdout.includes(text);
  }

  /** Ends stdin, waits for nsbuild, removes its store. */
  async finish(): Promise<{ code: number; stdout: string; stderr: string }> {
    await this.#stdin.close().catch(() => {});
    const status = await this.child.status;
    clearTimeout(this.#timer);
    await this.#reading;
    await Deno.remove(this.home, { recursive: true }).catch(() => {});
    return { code: status.code, stdout: this.#stdout, stderr: this.#stderr };
  }
}
