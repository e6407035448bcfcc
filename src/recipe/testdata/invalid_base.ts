// Two kinds of base at once.
import type { Recipe } from "../../mod.ts";

export default {
  name: "two-bases",
  version: "1.0",
  // @ts-expect-error: a base is one of debian, tarball or directory
  base: { debian: "bookworm", tarball: "rootfs.tar.zst" },
  steps: [{ name: "build", run: "true" }],
} satisfies Recipe;
