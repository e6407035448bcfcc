/**
 * A real terminal for the tests: `script` (util-linux) runs a bash command
 * line on a fresh pseudo-terminal, so whatever that line starts, nsbuild
 * included, has a terminal on stdin, stdout and stderr, and a controlling
 * terminal. The test types into the terminal through script's stdin and
 * reads what the terminal shows from script's stdout.
 */
import { NSBUILD_BIN, pollUntil } from "./rootfs.ts";

/** Host variables nsbuild (Deno) needs; nothing else of the test's environment. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NSBUILD_EXECUTOR"];

const DEFAULT_TIMEOUT_MS = 20_000;

/** Single-quotes a word for bash. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `bin/nsbuild ARGS...` as a bash word list. */
export function nsbuildLine(args: string[]): string {
  return [NSBUILD_BIN, ...args].map(shellQuote).join(" ");
}

/** What a terminal shows, without escape sequences and carriage returns. */
export function plain(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}

export interface TerminalResult {
  /** The exit status of the command line (script -e passes it on). */
  code: number;
  /** Everything the terminal showed, as bytes went by. */
  raw: string;
  /** The same, through plain(). */
  text: string;
}

/** One command line running on its own pseudo-terminal. */
export class TerminalSession {
  readonly home: string;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #chunks: string[] = [];
  readonly #reading: Promise<void>;
  readonly #timer: ReturnType<typeof setTimeout>;
  #timedOut = false;
  exited = false;

  constructor(readonly line: string, options: { timeoutMs?: number } = {}) {
    this.home = Deno.makeTempDirSync({ prefix: "nsbuild-test-home-" });
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    // script runs the line with $SHELL -c; bash for `read -t`.
    Object.assign(env, { NSBUILD_HOME: this.home, SHELL: "/bin/bash", TERM: "dumb" });
    const child = new Deno.Command("script", {
      args: ["--quiet", "--return", "--flush", "--command", line, "/dev/null"],
      env,
      clearEnv: true,
      // Kept open until finish(): script passes on its stdin's end of file
      // as a byte to the terminal.
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    child.status.then(() => this.exited = true);
    this.#writer = child.stdin.getWriter();
    const decoder = new TextDecoder();
    this.#reading = (async () => {
      for await (const chunk of child.stdout) {
        this.#chunks.push(decoder.decode(chunk, { stream: true }));
      }
    })();
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  /** What the terminal has shown so far, through plain(). */
  text(): string {
    return plain(this.#chunks.join(""));
  }

  /** Types bytes at the terminal. */
  async type(bytes: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(bytes));
  }

  /**
   * Waits until the terminal has shown text (after `after` characters of
   * plain output, to skip earlier matches); returns the position past it.
   */
  async waitFor(text: string | RegExp, after = 0, timeoutMs = 10_000): Promise<number> {
    const find = () => {
      const rest = this.text().slice(after);
      if (typeof text === "string") {
        const at = rest.indexOf(text);
        return at < 0 ? undefined : after + at + text.length;
      }
      const m = rest.match(text);
      return m?.index === undefined ? undefined : after + m.index + m[0].length;
    };
    const found = await pollUntil(() => find() ?? (this.exited ? -1 : 0), timeoutMs, 10);
    if (found > 0) return found;
    throw new Error(
      `the terminal did not show ${String(text)} within ${timeoutMs} ms` +
        `${this.exited ? " (the command line exited)" : ""}; it showed:\n${this.text()}`,
    );
  }

  #finished: Promise<TerminalResult> | undefined;

  /** Waits for the command line to exit; removes the store it used. */
  finish(): Promise<TerminalResult> {
    this.#finished ??= this.#finish();
    return this.#finished;
  }

  /** Cleanup for a test that failed half-way. */
  async abort(): Promise<void> {
    if (!this.exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }
    await this.finish().catch(() => {});
  }

  async #finish(): Promise<TerminalResult> {
    const status = await this.#child.status;
    clearTimeout(this.#timer);
    await this.#writer.close().catch(() => {});
    await this.#reading.catch(() => {});
    await Deno.remove(this.home, { recursive: true }).catch(() => {});
    const raw = this.#chunks.join("");
    if (this.#timedOut) {
      throw new Error(
        `\`${this.line}\` was killed after its time limit; it showed:\n${plain(raw)}`,
      );
    }
    return { code: status.code, raw, text: plain(raw) };
  }
}

/** Runs a bash command line on a fresh terminal, typing nothing, to its end. */
export async function inTerminal(line: string, timeoutMs?: number): Promise<TerminalResult> {
  const session = new TerminalSession(line, { timeoutMs });
  try {
    return await session.finish();
  } finally {
    await session.abort();
  }
}
