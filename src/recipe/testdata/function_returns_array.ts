// A recipe function that returns its steps instead of a recipe.
import type { RecipeStep } from "../../mod.ts";

export default (): RecipeStep[] => [{ name: "build", run: "true" }];
