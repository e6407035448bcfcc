// Local paths that do not exist: the loader names each field.
import type { Recipe } from "../../mod.ts";

export default {
  name: "missing-paths",
  version: "1.0",
  base: { tarball: "files/no-such-rootfs.tar.zst" },
  sources: [{ path: "files/no-such-dir" }, { path: "files/hello.c" }],
  steps: [{ name: "build", run: "true" }],
} satisfies Recipe;
