import { RUN_USAGE } from "./run.ts";

export const USAGE = `nsbuild: rootless container builder for package builds

Usage:
  ${RUN_USAGE}
  nsbuild version
  nsbuild help

Run \`nsbuild help\` or see README.md for details.`;
