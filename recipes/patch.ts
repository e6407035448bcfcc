/**
 * GNU patch built from its release tarball with its own `make check`. The
 * tarball comes from Debian's source package (the orig tarball is the
 * upstream release), fetched through the host's apt sources.
 */
import type { Recipe } from "../src/mod.ts";
import { BUILD_BASE } from "./build_base.ts";

export default {
  name: "patch",
  version: "2.7.6",
  description: "GNU patch, from its upstream tarball",
  base: BUILD_BASE,
  sources: [{ debian: "patch", version: "2.7.6-7" }],
  steps: [
    { name: "unpack", run: "tar -xf /src/patch/patch_2.7.6.orig.tar.xz -C /build" },
    { name: "configure", cwd: "/build/patch-2.7.6", run: "./configure --prefix=/usr" },
    { name: "build", cwd: "/build/patch-2.7.6", run: "make -j$(nproc)" },
    { name: "check", cwd: "/build/patch-2.7.6", run: "make check" },
    { name: "install", cwd: "/build/patch-2.7.6", run: "make install DESTDIR=/out" },
  ],
  outputs: ["/out/usr/bin/patch"],
} satisfies Recipe;
