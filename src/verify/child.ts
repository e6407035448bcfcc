/**
 * Build b of `nsbuild verify`: a child nsbuild started with its own
 * environment, umask and wrappers, whose progress (its `--json` events)
 * is relayed to the parent's display as it comes.
 */
import type { BuildEvent } from "../build/progress.ts";

export interface ChildBuild {
  argv: string[];
  env: Record<string, string>;
  onEvent: (e: BuildEvent) => void;
  /** Lines the child wrote on stderr (its error messages). */
  onStderr: (line: string) => void;
  signal: AbortSignal;
}

export interface ChildOutcome {
  /** The child's exit status (128+N when killed by signal N). */
  status: number;
  /** Its last stderr lines, for a message when it fails before any event says why. */
  stderrTail: string[];
}

const SIGNALS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
};

/** Calls `onLine` with each complete line of the stream, and the last one if unterminated. */
async function eachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, at));
      pending = pending.slice(at + 1);
    }
  }
  pending += decoder.decode();
  if (pending) onLine(pending);
}

export async function runChildBuild(options: ChildBuild): Promise<ChildOutcome> {
  const [program, ...args] = options.argv;
  const child = new Deno.Command(program!, {
    args,
    env: options.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Ctrl-C reaches the child too when both share the terminal; SIGTERM to us reaches only us.
  const stop = () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // It has exited.
    }
  };
  if (options.signal.aborted) stop();
  options.signal.addEventListener("abort", stop);
  const tail: string[] = [];
  try {
    await Promise.all([
      eachLine(child.stdout, (line) => {
        if (line.trim() === "") return;
        let event: BuildEvent;
        try {
          event = JSON.parse(line);
        } catch {
          options.onStderr(line);
          return;
        }
        options.onEvent(event);
      }),
      eachLine(child.stderr, (line) => {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        options.onStderr(line);
      }),
    ]);
    const status = await child.status;
    return {
      status: status.signal ? 128 + (SIGNALS[status.signal] ?? 0) : status.code,
      stderrTail: tail,
    };
  } finally {
    options.signal.removeEventListener("abort", stop);
  }
}
