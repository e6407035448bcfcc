// Mistakes the Recipe type catches in an editor, and validateRecipe() at build time.
import type { Recipe } from "../../mod.ts";

export default {
  name: "invalid-types",
  version: "1.0",
  base: { debian: "bookworm" },
  steps: [
    // @ts-expect-error: a misspelt field, and so no `run`
    { name: "configure", comand: "./configure" },
    // @ts-expect-error: `network` is a boolean
    { name: "fetch", run: "true", network: "yes" },
    // @ts-expect-error: `run` is a string or an array of strings
    { name: "build", run: 3 },
  ],
} satisfies Recipe;
