/**
 * nsbuild's public module. A recipe imports its types from here, type only,
 * so importing a recipe loads nothing of nsbuild:
 *
 * ```ts
 * import type { Recipe } from "./path/to/nsbuild/src/mod.ts";
 *
 * export default {
 *   name: "hello",
 *   version: "1.0",
 *   base: { debian: "bookworm", packages: ["build-essential"] },
 *   sources: [{ path: "hello.c" }],
 *   steps: [{ name: "build", run: "cc -o /out/hello /src/hello.c" }],
 * } satisfies Recipe;
 * ```
 *
 * @module
 */
export type {
  DebianBase,
  DebianSource,
  DebianSuite,
  DirectoryBase,
  PathSource,
  Recipe,
  RecipeBase,
  RecipeContext,
  RecipeExport,
  RecipeFunction,
  RecipeSource,
  RecipeStep,
  TarballBase,
  UrlSource,
} from "./recipe/types.ts";
export { DEFAULT_OUTPUTS, DEFAULT_SOURCE_DATE_EPOCH, DEFAULT_STEP_CWD } from "./recipe/types.ts";
export { RecipeError, type RecipeProblem, validateRecipe } from "./recipe/validate.ts";
export {
  type LoadedRecipe,
  loadRecipe,
  type ResolvedRecipe,
  type ResolvedSource,
  type ResolvedStep,
} from "./recipe/load.ts";
