/**
 * `nsbuild doctor` on this machine, through bin/nsbuild, as an unprivileged
 * user with subordinate ids (ignored, with the reason, elsewhere): every
 * check gets one line, a machine that runs the other integration tests
 * passes, and a broken executor is a failure that names its fix.
 */
import assert from "node:assert/strict";
import { nsbuild, type NsbuildResult, skipReason } from "./helpers/rootfs.ts";
import { CHECKS } from "../src/doctor/checks.ts";

const ignore = !!(await skipReason());

const LINE = /^(ok {4}|WARN {2}|FAIL {2})([^:]+): \S/;

function show(r: NsbuildResult): string {
  return `status ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

Deno.test({
  name: "nsbuild doctor: one line per check, exit 0 on a machine that runs sandboxes",
  ignore,
  fn: async () => {
    const r = await nsbuild(["doctor"]);
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines.length, CHECKS.length, show(r));
    for (const line of lines) assert.match(line, LINE);
    assert.ok(!lines.some((l) => l.startsWith("FAIL")), show(r));
    const named = (name: string) => lines.find((l) => LINE.exec(l)?.[2] === name) ?? "";
    // The real sandbox ran, with its overlay in this test's own store.
    assert.match(named("user namespaces"), /^ok +user namespaces: max_user_namespaces=\d+/);
    assert.ok(named("overlayfs in a user namespace").includes(r.home), show(r));
    assert.match(named("store"), new RegExp(`^ok +store: ${r.home} \\(`));
    assert.match(named("executor"), /^ok +executor: .*libnsbuild_executor\.so \(ABI \d+\)$/);
    assert.equal(r.stderr, "");
    assert.deepEqual(r.runsLeft, []);
  },
});

Deno.test({
  name: "nsbuild doctor --json: an array of results",
  ignore,
  fn: async () => {
    const r = await nsbuild(["doctor", "--json"]);
    assert.equal(r.code, 0, show(r));
    const results = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.ok(Array.isArray(results));
    assert.equal(results.length, CHECKS.length);
    for (const result of results) {
      assert.equal(typeof result.name, "string");
      assert.ok(["ok", "warn"].includes(result.status as string), JSON.stringify(result));
      assert.equal(typeof result.detail, "string");
    }
    assert.equal(results.find((x) => x.name === "subordinate ids")?.status, "ok");
  },
});

Deno.test({
  name:
    "nsbuild doctor: a missing executor fails with its fix, and the sandbox checks say why untried",
  ignore,
  fn: async () => {
    const missing = "/nonexistent/libnsbuild_executor.so";
    const r = await nsbuild(["doctor"], { env: { NSBUILD_EXECUTOR: missing } });
    assert.equal(r.code, 1, show(r));
    assert.match(
      r.stdout,
      new RegExp(`^FAIL  executor: ${missing} is missing — fix: .*NSBUILD_EXECUTOR`, "m"),
    );
    assert.match(
      r.stdout,
      /^WARN {2}overlayfs in a user namespace: not tried: the executor does not load/m,
    );
  },
});

Deno.test({
  name: "nsbuild doctor: a stray argument is a usage error",
  ignore,
  fn: async () => {
    const r = await nsbuild(["doctor", "--verbose"]);
    assert.equal(r.code, 2, show(r));
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^nsbuild: doctor: unknown option "--verbose"\n {2}hint: usage: nsbuild doctor \[--json\]\n$/,
    );
  },
});
