import assert from "node:assert/strict";
import {
  type BuildEvent,
  cleanLine,
  createProgress,
  fitWidth,
  formatSeconds,
  type ProgressKind,
  type ProgressSink,
  REDRAW_MS,
} from "./progress.ts";

/** A writer and clock the test controls, and a ticker it fires by hand. */
function harness(kind: ProgressKind, columns = 80) {
  const decoder = new TextDecoder();
  let text = "";
  let now = Date.UTC(2025, 0, 2, 3, 4, 5);
  const ticks = new Set<() => void>();
  const sink: ProgressSink = createProgress(
    kind,
    { write: (bytes) => text += decoder.decode(bytes), columns: () => columns },
    () => now,
    (tick) => {
      ticks.add(tick);
      return () => ticks.delete(tick);
    },
  );
  return {
    sink,
    send: (...events: BuildEvent[]) => events.forEach((e) => sink.event(e)),
    advance: (ms: number) => now += ms,
    tick: () => ticks.forEach((t) => t()),
    ticking: () => ticks.size,
    output: () => text,
    take: () => {
      const taken = text;
      text = "";
      return taken;
    },
  };
}

/** What a terminal shows after the output: handles exactly the escapes the renderer may use. */
function screen(text: string): string[] {
  const lines = [""];
  let col = 0;
  // deno-lint-ignore no-control-regex -- the escapes are what is being interpreted
  for (const part of text.split(/(\r|\n|\x1b\[2K)/)) {
    if (part === "\r") col = 0;
    else if (part === "\n") {
      lines.push("");
      col = 0;
    } else if (part === "\x1b[2K") lines[lines.length - 1] = "";
    else {
      assert.ok(
        !part.includes("\x1b"),
        `an escape the renderer should not use: ${JSON.stringify(part)}`,
      );
      const chars = [...lines[lines.length - 1]!];
      const written = [...part];
      chars.splice(col, written.length, ...written);
      lines[lines.length - 1] = chars.join("");
      col += written.length;
    }
  }
  return lines;
}

function redraws(text: string): string[] {
  return text.split("\r\x1b[2K").slice(1).filter((l) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /.test(l));
}

const start: BuildEvent = {
  type: "build-start",
  recipe: "recipes/hello.ts",
  name: "hello",
  steps: 3,
  logDir: "/store/logs/hello",
};
const base: BuildEvent = {
  type: "base",
  ref: "debian:bookworm",
  digest: "sha256:" + "ab".repeat(32),
  cached: true,
};
const source: BuildEvent = {
  type: "source",
  name: "hello-2.12.tar.gz",
  digest: "cd".repeat(32),
  cached: false,
};

function configureCached(): BuildEvent[] {
  return [
    { type: "step-start", index: 1, name: "configure", cached: true, key: "k1" },
    { type: "step-end", index: 1, name: "configure", status: "cached", seconds: 0 },
  ];
}

Deno.test("terminal: a finished build leaves one final line per step", () => {
  const t = harness("terminal");
  t.send(start, base, source, ...configureCached());
  t.send({ type: "step-start", index: 2, name: "build", cached: false, key: "k2" });
  t.advance(5000);
  t.send({ type: "step-log", index: 2, name: "build", line: "\x1b[32mCC\x1b[0m hello.o" });
  t.advance(7300);
  t.send({ type: "step-end", index: 2, name: "build", status: "done", seconds: 12.3, log: "/l" });
  t.send({ type: "step-start", index: 3, name: "test", cached: false, key: "k3" });
  t.send({ type: "step-end", index: 3, name: "test", status: "failed", seconds: 4.1, exitCode: 2 });
  t.send({
    type: "build-end",
    status: "failed",
    seconds: 16.4,
    failedStep: "test",
    log: "/store/logs/hello/03-test.log",
    tail: ["FAIL: greeting", "\x1b[1mmake: *** [check] Error 2\x1b[0m"],
    hint: "nsbuild shell recipes/hello.ts --step test",
  });
  t.sink.close();
  assert.deepEqual(screen(t.output()), [
    "building hello from recipes/hello.ts: 3 steps, logs in /store/logs/hello",
    "↺ base debian:bookworm  abababababab  cached",
    "✓ source hello-2.12.tar.gz  cdcdcdcdcdcd  stored",
    "↺ configure  cached",
    "✓ build  12.3s",
    "✗ test  4.1s  exit 2",
    "build of hello failed at step test after 16.4s",
    "  | FAIL: greeting",
    "  | make: *** [check] Error 2",
    "log: /store/logs/hello/03-test.log",
    "hint: nsbuild shell recipes/hello.ts --step test",
    "",
  ]);
});

Deno.test("terminal: the running line shows spinner, elapsed time and the latest log line", () => {
  const t = harness("terminal");
  t.send(start, { type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.advance(1234);
  t.send({ type: "step-log", index: 1, name: "build", line: "\tgcc -c \x1b[1mhello.c\x1b[0m\x07" });
  assert.deepEqual(screen(t.output()).slice(-1), ["⠹ build  1.2s  gcc -c hello.c"]);
});

Deno.test("terminal: a blank log line keeps the last one with words on show", () => {
  const t = harness("terminal");
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.send({ type: "step-log", index: 1, name: "build", line: "linking" });
  t.advance(REDRAW_MS);
  t.send({ type: "step-log", index: 1, name: "build", line: "   \x1b[0m" });
  assert.deepEqual(screen(t.output()), ["⠙ build  0.1s  linking"]);
});

Deno.test("terminal: log lines redraw at most once per interval", () => {
  const t = harness("terminal");
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  assert.equal(redraws(t.take()).length, 1);
  for (let i = 0; i < 500; i++) {
    t.advance(REDRAW_MS / 10);
    t.send({ type: "step-log", index: 1, name: "build", line: `line ${i}` });
  }
  // 500 lines over 5 seconds: one redraw per 100 ms, not one per line.
  const drawn = redraws(t.take());
  assert.equal(drawn.length, 50);
  assert.match(drawn.at(-1)!, /line 499$/);
});

Deno.test("terminal: the timer redraws the spinner while no log line comes", () => {
  const t = harness("terminal");
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.take();
  const frames = [];
  for (let i = 0; i < 3; i++) {
    t.advance(REDRAW_MS);
    t.tick();
    frames.push(screen(t.output()).at(-1));
  }
  assert.deepEqual(frames, ["⠙ build  0.1s", "⠹ build  0.2s", "⠸ build  0.3s"]);
});

Deno.test("terminal: a timer tick right after a log line's redraw draws nothing", () => {
  const t = harness("terminal");
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.advance(REDRAW_MS);
  t.send({ type: "step-log", index: 1, name: "build", line: "x" });
  t.take();
  t.advance(REDRAW_MS / 5);
  t.tick();
  assert.equal(t.output(), "");
});

Deno.test("terminal: the timer runs only while a step runs", () => {
  const t = harness("terminal");
  t.send(start, ...configureCached());
  assert.equal(t.ticking(), 0);
  t.send({ type: "step-start", index: 2, name: "build", cached: false, key: "k" });
  assert.equal(t.ticking(), 1);
  t.send({ type: "step-end", index: 2, name: "build", status: "done", seconds: 1 });
  assert.equal(t.ticking(), 0);
  t.send({ type: "step-start", index: 3, name: "test", cached: false, key: "k" });
  t.sink.close();
  assert.equal(t.ticking(), 0);
});

Deno.test("terminal: the running line fits the terminal width", () => {
  const t = harness("terminal", 30);
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.send({ type: "step-log", index: 1, name: "build", line: "x".repeat(200) });
  t.advance(REDRAW_MS);
  t.tick();
  const last = screen(t.output()).at(-1)!;
  assert.equal(last, "⠙ build  0.1s  xxxxxxxxxxxxx…");
  assert.equal([...last].length, 29);
});

Deno.test("terminal: notes print above the running step, which is redrawn below", () => {
  const t = harness("terminal");
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.send({ type: "step-log", index: 1, name: "build", line: "compiling" });
  t.send({ type: "note", message: "waiting for `nsbuild cache prune` to finish" });
  assert.deepEqual(screen(t.output()), [
    "waiting for `nsbuild cache prune` to finish",
    "⠋ build  0.0s  compiling",
  ]);
});

Deno.test("terminal: close keeps the last drawn line and ends it, then ignores events", () => {
  const t = harness("terminal");
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.sink.close();
  t.sink.close();
  t.send({ type: "note", message: "late" });
  assert.deepEqual(screen(t.output()), ["⠋ build  0.0s", ""]);
});

Deno.test("terminal: interrupted ends with the number of steps kept", () => {
  const t = harness("terminal");
  t.send(start, ...configureCached());
  t.send({ type: "step-start", index: 2, name: "build", cached: false, key: "k" });
  t.send({ type: "step-end", index: 2, name: "build", status: "done", seconds: 3 });
  t.send({ type: "step-start", index: 3, name: "test", cached: false, key: "k" });
  t.advance(2000);
  t.send({ type: "step-end", index: 3, name: "test", status: "interrupted", seconds: 2 });
  t.send({ type: "build-end", status: "interrupted", seconds: 5 });
  assert.deepEqual(screen(t.output()).slice(-3), [
    "✗ test  2.0s  interrupted",
    "interrupted: 2 completed steps are kept in the cache",
    "",
  ]);
});

Deno.test("terminal: a build-end while a step runs erases its line", () => {
  const t = harness("terminal");
  t.send({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  t.send({ type: "build-end", status: "interrupted", seconds: 0 });
  assert.deepEqual(screen(t.output()), [
    "interrupted: 0 completed steps are kept in the cache",
    "",
  ]);
});

Deno.test("terminal: the real timer turns the spinner on its own, and nothing draws after close", async () => {
  let writes = 0;
  const sink = createProgress("terminal", { write: () => writes++ });
  const sleep = () => new Promise((resolve) => setTimeout(resolve, REDRAW_MS * 3));
  sink.event({ type: "step-start", index: 1, name: "build", cached: false, key: "k" });
  await sleep();
  assert.ok(writes > 1, `the spinner should have been redrawn, got ${writes} writes`);
  sink.close();
  const atClose = writes;
  // The interval is unref'd, so the test sanitizer would not notice one left running.
  await sleep();
  assert.equal(writes, atClose);
});

Deno.test("plain: start and end lines and notes, no escapes and no step output", () => {
  const t = harness("plain");
  t.send(start, base, source, ...configureCached());
  t.send({ type: "step-start", index: 2, name: "build", cached: false, key: "k2" });
  t.send({ type: "step-log", index: 2, name: "build", line: "CC hello.o" });
  t.send({ type: "note", message: "\x1b[1mpulling\x1b[0m layer\n" });
  t.send({ type: "step-end", index: 2, name: "build", status: "done", seconds: 12.34 });
  t.send({ type: "step-start", index: 3, name: "test", cached: false, key: "k3" });
  t.send({ type: "step-end", index: 3, name: "test", status: "failed", seconds: 4.1, exitCode: 2 });
  t.send({
    type: "build-end",
    status: "failed",
    seconds: 16.4,
    failedStep: "test",
    log: "/store/logs/hello/03-test.log",
    tail: ["FAIL: greeting"],
    hint: "nsbuild shell recipes/hello.ts --step test",
  });
  t.sink.close();
  assert.equal(
    t.output(),
    [
      "building hello from recipes/hello.ts: 3 steps, logs in /store/logs/hello",
      "base debian:bookworm  abababababab  cached",
      "source hello-2.12.tar.gz  cdcdcdcdcdcd  stored",
      "[1/3] configure cached",
      "[2/3] build ...",
      "pulling layer",
      "[2/3] build done in 12.3s",
      "[3/3] test ...",
      "[3/3] test FAILED (exit 2) after 4.1s",
      "build of hello failed at step test after 16.4s",
      "  | FAIL: greeting",
      "log: /store/logs/hello/03-test.log",
      "hint: nsbuild shell recipes/hello.ts --step test",
      "",
    ].join("\n"),
  );
});

Deno.test("plain: a successful build ends with where its output went", () => {
  const t = harness("plain");
  t.send(start, {
    type: "build-end",
    status: "done",
    seconds: 75,
    outDir: "/work/out/hello",
    manifest: "/work/out/hello/nsbuild-manifest.json",
  });
  assert.equal(
    t.output(),
    "building hello from recipes/hello.ts: 3 steps, logs in /store/logs/hello\n" +
      "built hello in 1m15s\n" +
      "  output:   /work/out/hello\n" +
      "  manifest: /work/out/hello/nsbuild-manifest.json\n",
  );
});

Deno.test("plain: interrupted steps and builds say so, in the singular for one step", () => {
  const t = harness("plain");
  t.send(start, ...configureCached());
  t.send({ type: "step-start", index: 2, name: "build", cached: false, key: "k" });
  t.send({ type: "step-end", index: 2, name: "build", status: "interrupted", seconds: 0.5 });
  t.send({ type: "build-end", status: "interrupted", seconds: 1 });
  assert.deepEqual(t.output().split("\n").slice(-3), [
    "[2/3] build interrupted after 0.5s",
    "interrupted: 1 completed step is kept in the cache",
    "",
  ]);
});

Deno.test("plain: the failure tail shows at most 30 lines, the last ones", () => {
  const t = harness("plain");
  const tail = Array.from({ length: 40 }, (_, i) => `line ${i}`);
  t.send({ type: "build-end", status: "failed", seconds: 1, tail });
  const shown = t.output().split("\n").filter((l) => l.startsWith("  | "));
  assert.equal(shown.length, 30);
  assert.equal(shown[0], "  | line 10");
  assert.equal(shown.at(-1), "  | line 39");
});

Deno.test("json: one object per event, step output included, each with an ISO time", () => {
  const t = harness("json");
  const events: BuildEvent[] = [
    start,
    { type: "step-start", index: 1, name: "build", cached: false, key: "k" },
    { type: "step-log", index: 1, name: "build", line: "\x1b[31mred\x1b[0m" },
    { type: "step-end", index: 1, name: "build", status: "done", seconds: 1.5 },
    { type: "build-end", status: "done", seconds: 2 },
  ];
  t.send(...events.slice(0, 2));
  t.advance(1500);
  t.send(...events.slice(2));
  const lines = t.output().split("\n");
  assert.equal(lines.pop(), "");
  assert.deepEqual(
    lines.map((l) => JSON.parse(l)),
    events.map((e, i) => ({
      time: i < 2 ? "2025-01-02T03:04:05.000Z" : "2025-01-02T03:04:06.500Z",
      ...e,
    })),
  );
  assert.equal(lines[0], JSON.stringify({ time: "2025-01-02T03:04:05.000Z", ...start }));
});

Deno.test("formatSeconds() gives tenths under a minute and whole units beyond", () => {
  assert.deepEqual(
    [0, 0.04, 12.34, 59.94, 59.96, 125.4, 3599.6, 3725, -1, NaN].map(formatSeconds),
    ["0.0s", "0.0s", "12.3s", "59.9s", "1m00s", "2m05s", "1h00m", "1h02m", "0.0s", "0.0s"],
  );
});

Deno.test("cleanLine() removes escapes and control characters but keeps the text", () => {
  assert.equal(
    cleanLine("\x1b[1;31merror:\x1b[0m \x1b]8;;file:///x\x07link\x1b]8;;\x07\x1b(B done\r\x00"),
    "error: link done",
  );
});

Deno.test("fitWidth() counts wide characters as two columns", () => {
  assert.equal(fitWidth("abc", 3), "abc");
  assert.equal(fitWidth("abcd", 3), "ab…");
  assert.equal(fitWidth("日本語テキスト", 7), "日本語…");
});
