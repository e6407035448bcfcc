/**
 * Cache keys of build steps. A step's layer is reused only when everything
 * that could change what it writes is the same: the layer below it (the
 * base's digest for the first step), its own definition, the environment it
 * sees and the digests of the sources it can read.
 */
import { createHash } from "node:crypto";

/** Bumped when the layer format or the sandbox a step sees changes in a way keys cannot see. */
export const LAYER_FORMAT = 2;

export interface StepKeyInput {
  /** The key of the step below, or the base's digest for the first step. */
  parent: string;
  name: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  network: boolean;
  /** Digest of every source visible under /src, by its name there. */
  sources: Record<string, string>;
  /** The seccomp groups relaxed for the step, or "off"; unset for the default filter. */
  seccomp?: string[] | "off";
}

/** JSON with keys sorted, so that equal inputs hash equally whatever order they were written in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function stepKey(input: StepKeyInput): string {
  return createHash("sha256")
    .update(canonicalJson({ format: LAYER_FORMAT, ...input }))
    .digest("hex");
}
