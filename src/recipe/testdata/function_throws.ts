// A recipe function that refuses the architecture it is given.
import type { Recipe, RecipeContext } from "../../mod.ts";

export default (ctx: RecipeContext): Recipe => {
  throw new Error(`no build for ${ctx.arch}`);
};
