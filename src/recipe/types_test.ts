import assert from "node:assert/strict";
import {
  DEFAULT_OUTPUTS,
  DEFAULT_SOURCE_DATE_EPOCH,
  DEFAULT_STEP_CWD,
  type Recipe,
  type RecipeBase,
  type RecipeExport,
  type RecipeSource,
} from "./types.ts";
import hello from "./testdata/hello.ts";
import minimal from "./testdata/minimal.ts";
import byArch from "./testdata/by_arch.ts";

Deno.test("DEFAULT_SOURCE_DATE_EPOCH is the first second of 1980, UTC", () => {
  assert.equal(
    new Date(DEFAULT_SOURCE_DATE_EPOCH * 1000).toISOString(),
    "1980-01-01T00:00:00.000Z",
  );
});

Deno.test("a step starts in /build and a build keeps all of /out unless the recipe says otherwise", () => {
  assert.equal(DEFAULT_STEP_CWD, "/build");
  assert.deepEqual(DEFAULT_OUTPUTS, ["/out"]);
  assert.ok(Object.isFrozen(DEFAULT_OUTPUTS));
});

Deno.test("the example recipes are each a RecipeExport", () => {
  const exports: RecipeExport[] = [hello, minimal, byArch];
  assert.equal(exports.length, 3);
});

Deno.test("the Recipe type takes arrays written `as const`", () => {
  const recipe = {
    name: "x",
    version: "1",
    base: { debian: "bookworm", packages: ["make"] },
    steps: [{ name: "build", run: ["make", "all"] }],
    outputs: ["/out/bin"],
  } as const satisfies Recipe;
  assert.equal(recipe.steps.length, 1);
});

Deno.test("the Recipe type refuses a base or a source that mixes two kinds", () => {
  // @ts-expect-error: a tarball base has no packages
  const base: RecipeBase = { tarball: "x.tar", packages: ["make"] };
  // @ts-expect-error: a source is a URL or a path, not both
  const source: RecipeSource = { url: "https://example.org/x", sha256: "0", path: "x" };
  assert.ok(base && source);
});
