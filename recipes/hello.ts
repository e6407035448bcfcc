/**
 * GNU hello as a Debian package, from Debian's own source package, built
 * with dpkg-buildpackage so that its test suite runs (dh_auto_test).
 */
import type { Recipe } from "../src/mod.ts";
import { BUILD_BASE } from "./build_base.ts";

export default {
  name: "hello",
  version: "2.10-3",
  description: "GNU hello, packaged for Debian",
  base: BUILD_BASE,
  sources: [{ debian: "hello", version: "2.10-3" }],
  steps: [
    { name: "unpack", run: "dpkg-source -x /src/hello/hello_2.10-3.dsc /build/hello" },
    { name: "build", cwd: "/build/hello", run: "dpkg-buildpackage -b -uc -us" },
    // Not the .buildinfo: dpkg stamps it with the wall clock's Build-Date by design.
    { name: "collect", run: "cp /build/hello_*.deb /out/" },
  ],
} satisfies Recipe;
