import assert from "node:assert/strict";
import * as nsbuild from "./mod.ts";
import type { Recipe } from "./mod.ts";

Deno.test("mod.ts offers the recipe loader, the validator and their error", () => {
  assert.equal(typeof nsbuild.loadRecipe, "function");
  assert.equal(typeof nsbuild.validateRecipe, "function");
  assert.ok(new nsbuild.RecipeError("r.ts", []) instanceof Error);
  assert.equal(nsbuild.DEFAULT_STEP_CWD, "/build");
});

Deno.test("a recipe typed with mod.ts's Recipe passes mod.ts's validator unchanged", () => {
  const recipe: Recipe = {
    name: "hello",
    version: "1",
    base: { debian: "bookworm" },
    steps: [{ name: "build", run: "true" }],
  };
  assert.deepEqual(nsbuild.validateRecipe(recipe, "r.ts"), recipe);
});
