import { RUN_USAGE } from "./run.ts";

// Spelled out here rather than imported, so `nsbuild run` does not load them.
const BASE_USAGE = "nsbuild base ls [--json] | nsbuild base pull REF [--refresh] [--json]";
const CACHE_USAGE =
  "nsbuild cache ls [--json] | nsbuild cache prune [--older-than AGE] [--all] [--dry-run] [--json]";

export const USAGE = `nsbuild: rootless container builder for package builds

Usage:
  nsbuild [build] RECIPE.ts [--out DIR] [--no-cache] [--json] [--no-seccomp] [--single-id]
  nsbuild shell RECIPE.ts [--step NAME]
  nsbuild verify RECIPE.ts [--keep DIR] [--json]
  nsbuild doctor [--json]
  ${RUN_USAGE}
  ${BASE_USAGE}
  ${CACHE_USAGE}
  nsbuild version
  nsbuild help

Base references (--base, base pull):
  dir:PATH                   copy a root filesystem directory into the store
  tar:PATH                   unpack a tarball (plain, gzip, xz, zstd, bzip2)
  debian:SUITE[+PKG,...]     bootstrap Debian with mmdebstrap from the host's apt sources

See README.md for details.`;
