/**
 * The base the recipes in this directory share, so that one bootstrap serves
 * them all: Debian bookworm with what building Debian packages and GNU
 * projects needs.
 */
import type { DebianBase } from "../src/mod.ts";

export const BUILD_BASE: DebianBase = {
  debian: "bookworm",
  packages: ["build-essential", "debhelper", "ed", "help2man", "texinfo"],
};
