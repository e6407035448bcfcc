import assert from "node:assert/strict";
import { baseEnvironment, baseRefOf, planSteps } from "./build.ts";
import type { ResolvedBase } from "../base/resolve.ts";
import type { ReadySource } from "./sources.ts";
import type { Recipe } from "../recipe/types.ts";

const base: ResolvedBase = {
  digest: "b".repeat(64),
  rootfs: "/store/bases/bbb/rootfs",
  imported: false,
  info: {
    digest: "b".repeat(64),
    ref: "debian:bookworm",
    kind: "debian",
    created: "2026-01-01T00:00:00Z",
    members: 1,
    skippedDevices: 0,
    bytes: 1,
  },
};

const source: ReadySource = {
  name: "hello",
  digest: "s".repeat(64),
  hostPath: "/store/sources/sss/content",
  directory: true,
  inStore: true,
  cached: true,
  origin: "debian source hello=2.10-3",
};

const recipe: Recipe = {
  name: "hello",
  version: "1",
  base: { debian: "bookworm", packages: ["b", "a", "b"] },
  env: { A: "recipe" },
  steps: [
    { name: "one", run: "echo one" },
    { name: "two", run: ["/bin/true"], env: { A: "step" }, cwd: "/build/x", network: true },
  ],
};

Deno.test("planSteps() chains each step's key on the one below, from the base's digest", () => {
  const [one, two] = planSteps(recipe, base, [source]);
  const again = planSteps(recipe, base, [source]);
  assert.equal(one!.key, again[0]!.key);
  const edited = planSteps(
    { ...recipe, steps: [{ name: "one", run: "echo ONE" }, recipe.steps[1]!] },
    base,
    [source],
  );
  assert.notEqual(edited[0]!.key, one!.key);
  // Step two is unchanged but stands on a changed layer: it reruns too.
  assert.notEqual(edited[1]!.key, two!.key);
  const otherBase = planSteps(recipe, { ...base, digest: "c".repeat(64) }, [source]);
  assert.notEqual(otherBase[0]!.key, one!.key);
});

Deno.test("planSteps() runs a string with sh -ec and an array as given, in /build by default", () => {
  const [one, two] = planSteps(recipe, base, [source]);
  assert.deepEqual(one!.sandbox.argv, ["/bin/sh", "-ec", "echo one"]);
  assert.equal(one!.sandbox.cwd, "/build");
  assert.deepEqual(two!.sandbox.argv, ["/bin/true"]);
  assert.equal(two!.sandbox.cwd, "/build/x");
  assert.ok(two!.sandbox.createDirs.includes("/build/x"));
});

Deno.test("planSteps() layers the environment: defaults, then the recipe's, then the step's", () => {
  const [one, two] = planSteps(recipe, base, [source]);
  assert.equal(one!.sandbox.env.A, "recipe");
  assert.equal(two!.sandbox.env.A, "step");
  assert.equal(one!.sandbox.env.SOURCE_DATE_EPOCH, "315532800");
  assert.equal(one!.sandbox.env.TZ, "UTC");
  assert.equal(one!.sandbox.env.LC_ALL, "C.UTF-8");
  assert.ok(!("USER" in one!.sandbox.env), "nothing comes from the caller's environment");
  assert.deepEqual(
    Object.keys(baseEnvironment(1)).sort(),
    Object.keys(one!.sandbox.env).filter((k) => k !== "A").sort(),
  );
});

Deno.test("planSteps() binds each source read-only at /src/NAME and the network only where asked", () => {
  const [one, two] = planSteps(recipe, base, [source]);
  assert.deepEqual(one!.sandbox.binds, [
    { source: source.hostPath, target: "/src/hello", readonly: true, directory: true },
  ]);
  assert.equal(one!.sandbox.network, false);
  assert.equal(two!.sandbox.network, true);
});

Deno.test("baseRefOf() sorts and deduplicates a Debian base's packages", () => {
  assert.deepEqual(baseRefOf(recipe), { kind: "debian", suite: "bookworm", packages: ["a", "b"] });
  assert.deepEqual(baseRefOf({ ...recipe, base: { tarball: "/x.tar" } }), {
    kind: "tar",
    path: "/x.tar",
  });
  assert.deepEqual(baseRefOf({ ...recipe, base: { directory: "/r" } }), {
    kind: "dir",
    path: "/r",
  });
});

Deno.test("planSteps() gives each step the default filter, its relaxed groups, or none, in its key", () => {
  const relaxed = {
    ...recipe,
    steps: recipe.steps.map((s, i) =>
      i === 0 ? { ...s, relaxSeccomp: { groups: ["perf", "bpf"], reason: "profiling" } } : s
    ),
  };
  const [plain] = planSteps(recipe, base, [source]);
  const [eased] = planSteps(relaxed, base, [source]);
  const [off] = planSteps(recipe, base, [source], { noSeccomp: true });
  assert.deepEqual(plain!.sandbox.seccomp, { relax: [] });
  assert.deepEqual(eased!.sandbox.seccomp, { relax: ["bpf", "perf"] });
  assert.deepEqual(eased!.relaxSeccomp, { groups: ["perf", "bpf"], reason: "profiling" });
  assert.equal(off!.sandbox.seccomp, "off");
  assert.equal(new Set([plain!.key, eased!.key, off!.key]).size, 3);
});

Deno.test("planSteps() takes the derived SOURCE_DATE_EPOCH, and it changes the keys", () => {
  const [a] = planSteps(recipe, base, [source], { epoch: 1660466000 });
  const [b] = planSteps(recipe, base, [source], { epoch: 1660466001 });
  assert.equal(a!.sandbox.env.SOURCE_DATE_EPOCH, "1660466000");
  assert.notEqual(a!.key, b!.key);
});
