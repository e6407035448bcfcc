// A recipe whose module throws while it is being imported.
import type { Recipe } from "../../mod.ts";

function versionFromEnvironment(): string {
  throw new Error("VERSION is not set");
}

export default {
  name: "throws",
  version: versionFromEnvironment(),
  base: { debian: "bookworm" },
  steps: [{ name: "build", run: "true" }],
} satisfies Recipe;
