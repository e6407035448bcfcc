// Mistakes of value the Recipe type cannot see: only validateRecipe() catches them.
import type { Recipe } from "../../mod.ts";

export default {
  name: "Hello World",
  version: "1.0",
  base: { debian: "bookworm", packages: ["Build_Essential"] },
  sources: [
    {
      url: "https://example.org/hello.tar.gz",
      sha256: "8D99142AFD92576F30B0CD7CB42A8DC6809998BC5D607D88761F512E26C7DB20",
    },
  ],
  env: { "1X": "one" },
  steps: [
    { name: "build", run: "make" },
    { name: "build", run: "make\0install" },
  ],
  outputs: ["/etc/passwd"],
} satisfies Recipe;
