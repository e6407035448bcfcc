/**
 * Running a sandbox whose stdout and stderr go to a FIFO that nsbuild reads
 * line by line (for a log file and the progress display), or whose stdout
 * is a stream nsbuild consumes (an archive).
 */
import type { SandboxResult } from "./run.ts";

/**
 * Opens our end of a FIFO whose other end the sandbox opens. If the sandbox
 * ends first (its setup failed), opening the other end here pairs with our
 * pending open, so nothing waits forever; then undefined.
 */
export async function openFifo(
  fifo: string,
  mode: "read" | "write",
  sandbox: Promise<SandboxResult>,
): Promise<Deno.FsFile | undefined> {
  const ours = Deno.open(fifo, mode === "read" ? { read: true } : { write: true });
  const ended = await Promise.race([ours.then(() => false), sandbox.then(() => true)]);
  if (!ended) return await ours;
  const theirs = await Deno.open(fifo, mode === "read" ? { write: true } : { read: true });
  (await ours).close();
  theirs.close();
  return undefined;
}

/** Splits a byte stream into lines (without the newline), decoding UTF-8 leniently. */
export async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onChunk: (bytes: Uint8Array) => void,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    onChunk(chunk);
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  pending += decoder.decode();
  if (pending) onLine(pending);
}
