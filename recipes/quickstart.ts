/**
 * The README's quick start: compile a C program from a local file and hand
 * back the binary. Copy it, change the steps, run `nsbuild quickstart.ts`.
 */
import type { Recipe } from "../src/mod.ts";
import { BUILD_BASE } from "./build_base.ts";

export default {
  name: "quickstart",
  version: "1.0",
  base: BUILD_BASE,
  sources: [{ path: "quickstart/greet.c" }],
  steps: [
    { name: "compile", run: "cc -O2 -o /out/greet /src/greet.c" },
    { name: "test", run: '/out/greet | grep -qx "Hello from nsbuild"' },
  ],
} satisfies Recipe;
