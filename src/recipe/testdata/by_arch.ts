// A recipe computed from the build's context, asynchronously.
import type { Recipe, RecipeContext } from "../../mod.ts";

export default async (ctx: RecipeContext): Promise<Recipe> => {
  await Promise.resolve();
  return {
    name: `tool-${ctx.arch}`,
    version: ctx.nsbuildVersion,
    base: { debian: "bookworm" },
    steps: [{ name: "build", run: ["echo", ctx.arch] }],
  };
};
