/**
 * What a person (or a program) sees while a build runs. The builder reports
 * events; a sink renders them: on a terminal, one line per step with the
 * running step's line redrawn in place; in a log (plain), start and end lines
 * only, since each step's output already has its own log file; for programs
 * (json), every event as one JSON object per line.
 */

export type BuildEvent =
  | { type: "build-start"; recipe: string; name: string; steps: number; logDir: string }
  | { type: "base"; ref: string; digest: string; cached: boolean }
  | { type: "source"; name: string; digest: string; cached: boolean }
  /** `index` counts steps from 1, as shown in `[2/5]`. */
  | { type: "step-start"; index: number; name: string; cached: boolean; key: string }
  | { type: "step-log"; index: number; name: string; line: string }
  | {
    type: "step-end";
    index: number;
    name: string;
    status: "cached" | "done" | "failed" | "interrupted";
    seconds: number;
    exitCode?: number;
    log?: string;
  }
  /** A line for the person waiting, e.g. base import progress. */
  | { type: "note"; message: string }
  | {
    type: "build-end";
    status: "done" | "failed" | "interrupted";
    seconds: number;
    outDir?: string;
    manifest?: string;
    failedStep?: string;
    log?: string;
    /** The failed step's last log lines; the caller decides how many (30 at most are shown). */
    tail?: string[];
    hint?: string;
  };

export interface ProgressSink {
  event(e: BuildEvent): void;
  /** Stops redrawing and leaves the cursor on a fresh line; later events are ignored. */
  close(): void;
}

export interface ProgressOutput {
  write(bytes: Uint8Array): void;
  /** The terminal's width now: asked at each redraw, so a resized window is followed. */
  columns?: () => number;
}

/**
 * Calls `tick` every `ms` milliseconds until the returned function is called.
 * Tests pass their own to drive the spinner without waiting.
 */
export type Ticker = (tick: () => void, ms: number) => () => void;

export type ProgressKind = "terminal" | "plain" | "json";

/** `clock` gives milliseconds since the epoch (JSON `time` fields are wall-clock times). */
export function createProgress(
  kind: ProgressKind,
  out: ProgressOutput,
  clock: () => number = Date.now,
  ticker: Ticker = intervalTicker,
): ProgressSink {
  switch (kind) {
    case "terminal":
      return new TerminalProgress(out, clock, ticker);
    case "plain":
      return new PlainProgress(out);
    case "json":
      return new JsonProgress(out, clock);
  }
}

/** Ten frames a second looks alive without costing anything noticeable over ssh. */
export const REDRAW_MS = 100;

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const MAX_TAIL = 30;
const DEFAULT_COLUMNS = 80;

function intervalTicker(tick: () => void, ms: number): () => void {
  const id = setInterval(tick, ms);
  // A spinner must never be the reason a finished (or failing) process stays alive.
  Deno.unrefTimer(id);
  return () => clearInterval(id);
}

const encoder = new TextEncoder();

/** `12.3s` under a minute; `2m05s` and `1h02m` beyond, where tenths stop mattering. */
export function formatSeconds(seconds: number): string {
  const s = Number.isFinite(seconds) ? Math.max(0, seconds) : 0;
  const tenths = Math.round(s * 10) / 10;
  if (tenths < 60) return `${tenths.toFixed(1)}s`;
  const whole = Math.round(s);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
  const minutes = Math.round(whole / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/** CSI (colours, cursor moves), OSC (titles, links), DCS/PM/APC strings, and short ESC sequences. */
const ESCAPES =
  // deno-lint-ignore no-control-regex -- matching terminal escapes is the point
  /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -/]*[0-~])?/g;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/g;

/**
 * A log line as plain text: a command's colours, cursor movements and
 * bells would otherwise act on our terminal and break the redrawn line.
 */
export function cleanLine(line: string): string {
  return line.replace(ESCAPES, "").replace(/\t/g, " ").replace(CONTROLS, "").trim();
}

function shortDigest(digest: string): string {
  return digest.replace(/^[a-z0-9]+:/, "").slice(0, 12);
}

/** Columns a character takes: CJK and emoji take two, combining marks none. */
function charWidth(ch: string): number {
  const c = ch.codePointAt(0)!;
  if (c === 0x200b || (c >= 0x200c && c <= 0x200f) || /\p{M}/u.test(ch)) return 0;
  if (
    (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf && c !== 0x303f) ||
    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
    (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd)
  ) return 2;
  return 1;
}

export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += charWidth(ch);
  return width;
}

/** Cuts `text` to `width` columns, marking the cut with an ellipsis. */
export function fitWidth(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let used = 0;
  let kept = "";
  for (const ch of text) {
    const w = charWidth(ch);
    if (used + w > width - 1) break;
    used += w;
    kept += ch;
  }
  return width >= 1 ? kept + "…" : "";
}

type StepEnd = Extract<BuildEvent, { type: "step-end" }>;
type BuildEnd = Extract<BuildEvent, { type: "build-end" }>;

/** What both human renderers remember across events for the closing lines. */
class BuildFacts {
  name?: string;
  steps?: number;
  completed = 0;

  see(e: BuildEvent): void {
    if (e.type === "build-start") {
      this.name = e.name;
      this.steps = e.steps;
    } else if (e.type === "step-end" && (e.status === "done" || e.status === "cached")) {
      this.completed++;
    }
  }

  closingLines(e: BuildEnd): string[] {
    const took = formatSeconds(e.seconds);
    switch (e.status) {
      case "done": {
        const lines = [this.name ? `built ${this.name} in ${took}` : `build done in ${took}`];
        if (e.outDir) lines.push(`  output:   ${e.outDir}`);
        if (e.manifest) lines.push(`  manifest: ${e.manifest}`);
        return lines;
      }
      case "failed": {
        const what = this.name ? `build of ${this.name}` : "build";
        const lines = [
          e.failedStep
            ? `${what} failed at step ${e.failedStep} after ${took}`
            : `${what} failed after ${took}`,
        ];
        for (const line of (e.tail ?? []).slice(-MAX_TAIL)) lines.push(`  | ${cleanLine(line)}`);
        if (e.log) lines.push(`log: ${e.log}`);
        if (e.hint) lines.push(`hint: ${cleanLine(e.hint)}`);
        return lines;
      }
      case "interrupted": {
        const n = this.completed;
        return [
          `interrupted: ${n} completed ${n === 1 ? "step is" : "steps are"} kept in the cache`,
        ];
      }
    }
  }
}

function startLine(e: Extract<BuildEvent, { type: "build-start" }>): string {
  const steps = `${e.steps} ${e.steps === 1 ? "step" : "steps"}`;
  return `building ${e.name} from ${e.recipe}: ${steps}, logs in ${e.logDir}`;
}

function baseLine(e: Extract<BuildEvent, { type: "base" }>): string {
  return `base ${e.ref}  ${shortDigest(e.digest)}  ${e.cached ? "cached" : "imported"}`;
}

function sourceLine(e: Extract<BuildEvent, { type: "source" }>): string {
  return `source ${e.name}  ${shortDigest(e.digest)}  ${e.cached ? "cached" : "stored"}`;
}

function noteLines(message: string): string[] {
  return message.split(/\r?\n/).map(cleanLine).filter((l) => l !== "");
}

class TerminalProgress implements ProgressSink {
  #facts = new BuildFacts();
  #running?: { index: number; name: string; started: number; latest: string };
  #lastDraw = -Infinity;
  #stopTicker?: () => void;
  #closed = false;

  constructor(
    private out: ProgressOutput,
    private clock: () => number,
    private ticker: Ticker,
  ) {}

  event(e: BuildEvent): void {
    if (this.#closed) return;
    this.#facts.see(e);
    switch (e.type) {
      case "build-start":
        return this.#above([startLine(e)]);
      case "base":
        return this.#above([`${e.cached ? "↺" : "✓"} ${baseLine(e)}`]);
      case "source":
        return this.#above([`${e.cached ? "↺" : "✓"} ${sourceLine(e)}`]);
      case "note":
        return this.#above(noteLines(e.message));
      case "step-start":
        // Steps run one at a time; a second start means the first's end went missing.
        if (this.#running) this.#leaveRunning("\n");
        if (e.cached) return;
        this.#running = { index: e.index, name: e.name, started: this.clock(), latest: "" };
        this.#draw(this.clock());
        this.#stopTicker = this.ticker(() => this.#tick(), REDRAW_MS);
        return;
      case "step-log": {
        const running = this.#running;
        if (!running || running.index !== e.index) return;
        const line = cleanLine(e.line);
        // A blank line says nothing; the last line with words stays more telling.
        if (line) running.latest = line;
        const now = this.clock();
        if (now - this.#lastDraw >= REDRAW_MS) this.#draw(now);
        return;
      }
      case "step-end":
        // The final line's own erase replaces the running line.
        this.#leaveRunning("");
        this.#write(`\r\x1b[2K${finalStepLine(e)}\n`);
        return;
      case "build-end":
        this.#leaveRunning("\r\x1b[2K");
        this.#write(this.#facts.closingLines(e).map((l) => l + "\n").join(""));
        return;
    }
  }

  close(): void {
    if (this.#closed) return;
    // Whatever ends the build without a build-end (an error) prints below what was running.
    this.#leaveRunning("\n");
    this.#closed = true;
  }

  /** Timer ticks tolerate their own jitter, but yield to a log line that just redrew. */
  #tick(): void {
    const now = this.clock();
    if (this.#running && now - this.#lastDraw >= REDRAW_MS / 2) this.#draw(now);
  }

  #draw(now: number): void {
    const running = this.#running;
    if (!running) return;
    const elapsedMs = Math.max(0, now - running.started);
    const frame = SPINNER[Math.floor(elapsedMs / REDRAW_MS) % SPINNER.length]!;
    let line = `${frame} ${running.name}  ${formatSeconds(elapsedMs / 1000)}`;
    if (running.latest) line += `  ${running.latest}`;
    // The last column stays empty: writing there makes some terminals wrap early.
    this.#write(`\r\x1b[2K${fitWidth(line, this.#columns() - 1)}`);
    this.#lastDraw = now;
  }

  #columns(): number {
    let columns: number | undefined;
    try {
      columns = this.out.columns?.();
    } catch {
      // The output stopped being a terminal; its old width is as good a guess as any.
    }
    return columns && columns > 1 ? columns : DEFAULT_COLUMNS;
  }

  /** Lines that stay, printed above the running step, which is then redrawn below them. */
  #above(lines: string[]): void {
    if (!lines.length) return;
    const clear = this.#running ? "\r\x1b[2K" : "";
    this.#write(clear + lines.map((l) => l + "\n").join(""));
    if (this.#running) this.#draw(this.clock());
  }

  /** Stops the running step's line: `ending` erases it or keeps it as drawn. */
  #leaveRunning(ending: string): void {
    this.#stopTicker?.();
    this.#stopTicker = undefined;
    if (!this.#running) return;
    this.#running = undefined;
    if (ending) this.#write(ending);
  }

  #write(text: string): void {
    this.out.write(encoder.encode(text));
  }
}

function finalStepLine(e: StepEnd): string {
  const took = formatSeconds(e.seconds);
  switch (e.status) {
    case "cached":
      return `↺ ${e.name}  cached`;
    case "done":
      return `✓ ${e.name}  ${took}`;
    case "failed":
      return `✗ ${e.name}  ${took}  ${e.exitCode === undefined ? "failed" : `exit ${e.exitCode}`}`;
    case "interrupted":
      return `✗ ${e.name}  ${took}  interrupted`;
  }
}

class PlainProgress implements ProgressSink {
  #facts = new BuildFacts();
  #closed = false;

  constructor(private out: ProgressOutput) {}

  event(e: BuildEvent): void {
    if (this.#closed) return;
    this.#facts.see(e);
    const lines = this.#lines(e);
    if (lines.length) this.out.write(encoder.encode(lines.map((l) => l + "\n").join("")));
  }

  close(): void {
    this.#closed = true;
  }

  #lines(e: BuildEvent): string[] {
    switch (e.type) {
      case "build-start":
        return [startLine(e)];
      case "base":
        return [baseLine(e)];
      case "source":
        return [sourceLine(e)];
      case "note":
        return noteLines(e.message);
      case "step-start":
        // Its end line follows at once; a start line too would only double it.
        return e.cached ? [] : [`${this.#counter(e.index)} ${e.name} ...`];
      case "step-log":
        return [];
      case "step-end":
        return [`${this.#counter(e.index)} ${e.name} ${plainOutcome(e)}`];
      case "build-end":
        return this.#facts.closingLines(e);
    }
  }

  #counter(index: number): string {
    return `[${index}/${this.#facts.steps ?? "?"}]`;
  }
}

function plainOutcome(e: StepEnd): string {
  const took = formatSeconds(e.seconds);
  switch (e.status) {
    case "cached":
      return "cached";
    case "done":
      return `done in ${took}`;
    case "failed":
      return e.exitCode === undefined
        ? `FAILED after ${took}`
        : `FAILED (exit ${e.exitCode}) after ${took}`;
    case "interrupted":
      return `interrupted after ${took}`;
  }
}

class JsonProgress implements ProgressSink {
  #closed = false;

  constructor(private out: ProgressOutput, private clock: () => number) {}

  event(e: BuildEvent): void {
    if (this.#closed) return;
    const time = new Date(this.clock()).toISOString();
    this.out.write(encoder.encode(JSON.stringify({ time, ...e }) + "\n"));
  }

  close(): void {
    this.#closed = true;
  }
}
