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
import { NSBUILD_BIN } from "./helpers/rootfs.ts";
import { e2eEnv, e2eReason } from "./helpers/e2e.ts";

const RECIPES = new URL("../recipes/", import.meta.url).pathname;

/** A hang guard for the run (a bootstrap and two builds), not an assertion. */
const RUN_LIMIT_MS = 40 * 60_000;

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
    const env = e2eEnv();
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
