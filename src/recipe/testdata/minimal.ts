// Only what a recipe must say; everything else takes its default.
import type { Recipe } from "../../mod.ts";

const recipe: Recipe = {
  name: "minimal",
  version: "0",
  base: { directory: "files/rootfs" },
  steps: [{ name: "noop", run: "true" }],
};

export default recipe;
