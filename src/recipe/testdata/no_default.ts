// The recipe is exported, but not as the default.
import type { Recipe } from "../../mod.ts";

export const recipe: Recipe = {
  name: "no-default",
  version: "1.0",
  base: { debian: "bookworm" },
  steps: [{ name: "build", run: "true" }],
};
