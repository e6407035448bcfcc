/**
 * `nsbuild verify` end to end: recipes/hello.ts (GNU hello as a Debian
 * package) built twice under every variation on its real Debian base, and
 * found reproducible. It shares the store of tests/e2e_build_test.ts,
 * $NSBUILD_E2E_HOME or else ~/.cache/nsbuild-e2e, so the base is
 * bootstrapped once. Ignored, with the reason printed, where sandboxes
 * cannot run, mmdebstrap is missing or the host's apt sources do not answer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hostAptSources } from "../src/base/debian.ts";
import { findProgram, searchDirs } from "../src/util/which.ts";
import { NSBUILD_BIN, skipReason } from "./helpers/rootfs.ts";

const RECIPES = new URL("../recipes/", import.meta.url).pathname;

const HOME = Deno.env.get("NSBUILD_E2E_HOME") ??
  join(Deno.env.get("HOME") ?? "/nonexistent", ".cache", "nsbuild-e2e");

/** Host variables nsbuild (Deno, mmdebstrap, apt) needs; nothing else of the test's environment. */
const PASSED_THROUGH = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "TMPDIR",
  "NSBUILD_EXECUTOR",
  "http_proxy",
  "https_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "no_proxy",
  "NO_PROXY",
];

/** A hang guard for the run (a bootstrap and two builds), not an assertion. */
const RUN_LIMIT_MS = 40 * 60_000;

/** Does any of the host's apt sources answer at all? */
async function aptReason(): Promise<string | undefined> {
  const uris = new Set<string>();
  for (const file of hostAptSources()) {
    for (const m of file.text.matchAll(/https?:\/\/[^\s\]]+/g)) uris.add(m[0]);
  }
  if (uris.size === 0) return "the host has no http(s) apt source to bootstrap the base from";
  const failures: string[] = [];
  for (const uri of uris) {
    try {
      const response = await fetch(uri, { method: "HEAD", signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      return undefined;
    } catch (e) {
      failures.push(`${uri}: ${(e as Error).message}`);
    }
  }
  return `the host's apt sources do not answer (${failures.join("; ")})`;
}

async function e2eReason(): Promise<string | undefined> {
  const sandbox = await skipReason();
  if (sandbox) return sandbox;
  if (!findProgram("mmdebstrap", searchDirs())) {
    return "mmdebstrap is not installed (apt-get install mmdebstrap), which the Debian base needs";
  }
  return await aptReason();
}

const reason = await e2eReason();
if (reason) console.warn(`nsbuild end-to-end verify test skipped: ${reason}`);

interface VerifyJson {
  status: string;
  reproducible: boolean;
  files: number;
  identical: number;
  variations: { id: string; varied: boolean; reason?: string }[];
  differences: { path: string; summary: string; account: string[] }[];
  builds: { a: { seconds: number }; b?: { seconds: number } };
}

Deno.test({
  name: "recipes/hello.ts verifies as reproducible under every variation",
  ignore: !!reason,
  fn: async () => {
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    env.NSBUILD_HOME = HOME;
    const started = performance.now();
    const child = new Deno.Command(NSBUILD_BIN, {
      args: ["verify", join(RECIPES, "hello.ts"), "--json"],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_LIMIT_MS);
    const output = await child.output();
    clearTimeout(timer);
    const seconds = (performance.now() - started) / 1000;
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    const describe = () =>
      `status ${output.code}\nstdout: ${stdout}\nstderr (end): ${
        stderr.split("\n").slice(-60).join("\n")
      }`;
    let report: VerifyJson;
    try {
      report = JSON.parse(stdout);
    } catch {
      throw new Error(`verify --json printed no report\n${describe()}`);
    }
    console.log(
      `nsbuild verify recipes/hello.ts: ${seconds.toFixed(1)} s (build a ${
        report.builds.a.seconds.toFixed(1)
      } s, build b ${report.builds.b?.seconds.toFixed(1)} s)`,
    );
    const notVaried = report.variations.filter((v) => !v.varied);
    if (notVaried.length) {
      console.log(`not varied: ${notVaried.map((v) => `${v.id} (${v.reason})`).join(", ")}`);
    }
    assert.equal(output.code, 0, describe());
    assert.equal(report.status, "reproducible");
    // The .deb and the manifest at least.
    assert.ok(report.files >= 2, describe());
    assert.equal(report.identical, report.files);
    assert.deepEqual(report.differences, []);
  },
});
