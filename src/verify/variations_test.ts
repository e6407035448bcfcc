import assert from "node:assert/strict";
import {
  B_UMASK,
  CLOCK_OFFSET_SECONDS,
  describeVariations,
  formatCpuList,
  type HostFacts,
  parseCpuList,
  planVariations,
} from "./variations.ts";

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    storeA: "/s/tmp/verify-1/a/store",
    storeB: "/s/tmp/verify-1/b/store",
    homeB: "/s/tmp/verify-1/b/home",
    pathDirB: "/s/tmp/verify-1/b/bin",
    env: { PATH: "/usr/bin:/bin", HOME: "/home/me", LANG: "en_US.UTF-8", SECRET: "kept" },
    noise: "0123abcd",
    disorder: { ok: true },
    setarch: "/usr/bin/setarch",
    taskset: "/usr/bin/taskset",
    cpus: [0, 1, 2, 3],
    ...over,
  };
}

Deno.test("planVariations() gives build b the caller's environment with every varied variable changed", () => {
  const plan = planVariations(facts());
  assert.equal(plan.envB.SECRET, "kept");
  assert.equal(plan.envB.NSBUILD_VERIFY_NOISE, "0123abcd");
  assert.equal(plan.envB.HOME, "/s/tmp/verify-1/b/home");
  assert.equal(plan.envB.PATH, "/usr/bin:/bin:/s/tmp/verify-1/b/bin");
  assert.equal(plan.envB.TZ, "Pacific/Kiritimati");
  assert.equal(plan.envB.LANG, "fr_FR.UTF-8");
  assert.equal(plan.envB.LC_ALL, "fr_FR.UTF-8");
  assert.notEqual(plan.envB.TERM, undefined);
  assert.equal(plan.clockOffsetB, CLOCK_OFFSET_SECONDS);
  assert.equal(CLOCK_OFFSET_SECONDS, 315_360_000);
});

Deno.test("planVariations() wraps build b in setarch -R, taskset on half the CPUs, then the umask", () => {
  const plan = planVariations(facts());
  assert.deepEqual(plan.wrapperB, [
    "/usr/bin/setarch",
    "-R",
    "/usr/bin/taskset",
    "-c",
    "0-1",
    "/bin/sh",
    "-c",
    `umask 0077 && exec "$@"`,
    "sh",
  ]);
  assert.equal(B_UMASK, 0o077);
  assert.deepEqual(plan.cpusB, [0, 1]);
});

Deno.test("planVariations() says which variations it could not apply, and why", () => {
  const plan = planVariations(facts({
    disorder: { ok: false, reason: "disorderfs not installed; apt-get install disorderfs fuse3" },
    setarch: undefined,
    cpus: [3],
  }));
  const byId = Object.fromEntries(plan.variations.map((v) => [v.id, v]));
  assert.equal(byId["directory-order"]!.varied, false);
  assert.equal(byId["aslr"]!.varied, false);
  assert.equal(byId["cpus"]!.varied, false);
  assert.equal(byId["cpus"]!.reason, "nsbuild may use one CPU only");
  assert.equal(plan.disorder, false);
  assert.deepEqual(plan.wrapperB.slice(0, 1), ["/bin/sh"]);
  const text = describeVariations(plan.variations);
  assert.match(
    text,
    /; not varied: directory-order — disorderfs not installed; apt-get install disorderfs fuse3/,
  );
  assert.match(text, /^variations: store-path, environment, home, exec-path, timezone, locale/);
});

Deno.test("planVariations() lists every variation it applies with what build a and build b had", () => {
  const plan = planVariations(facts());
  assert.deepEqual(plan.variations.map((v) => v.id), [
    "store-path",
    "environment",
    "home",
    "exec-path",
    "timezone",
    "locale",
    "umask",
    "directory-order",
    "clocks",
    "time",
    "aslr",
    "cpus",
  ]);
  for (const v of plan.variations) {
    assert.ok(v.varied && v.a && v.b, `${v.id} lacks a varied a/b: ${JSON.stringify(v)}`);
  }
  assert.doesNotMatch(describeVariations(plan.variations), /not varied/);
});

Deno.test("parseCpuList() and formatCpuList() read and write taskset's CPU lists", () => {
  assert.deepEqual(parseCpuList("0-3,6"), [0, 1, 2, 3, 6]);
  assert.deepEqual(parseCpuList("0,1\n"), [0, 1]);
  assert.deepEqual(parseCpuList("3-1"), []);
  assert.deepEqual(parseCpuList("x"), []);
  assert.equal(formatCpuList([6, 0, 1, 2, 3]), "0-3,6");
  assert.equal(formatCpuList([5]), "5");
});
