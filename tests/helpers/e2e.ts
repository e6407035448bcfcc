/**
 * What the end-to-end tests (real Debian bases) share: their store, the
 * environment they hand nsbuild, and the reason they are skipped, if any.
 */
import { join } from "node:path";
import { hostAptSources } from "../../src/base/debian.ts";
import { findProgram, searchDirs } from "../../src/util/which.ts";
import { skipReason } from "./rootfs.ts";

/** One store for every end-to-end file, so the base is bootstrapped once. */
export const E2E_HOME = Deno.env.get("NSBUILD_E2E_HOME") ??
  join(Deno.env.get("HOME") ?? "/nonexistent", ".cache", "nsbuild-e2e");

/** Host variables nsbuild (Deno, mmdebstrap, apt) needs; nothing else of the test's environment. */
const PASSED_THROUGH = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "TMPDIR",
  "NSBUILD_EXECUTOR",
  "http_proxy",
  "https_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "no_proxy",
  "NO_PROXY",
];

/** The environment an end-to-end nsbuild runs with: the passed-through variables and the store. */
export function e2eEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  env.NSBUILD_HOME = E2E_HOME;
  return env;
}

/** The http(s) URIs of the host's apt sources, one-line and deb822 alike. */
function aptUris(): string[] {
  const uris = new Set<string>();
  for (const file of hostAptSources()) {
    for (const raw of file.text.split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      const deb822 = line.match(/^URIs:\s*(.+)$/i);
      const oneLine = line.match(/^deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)/);
      const found = deb822 ? deb822[1]!.split(/\s+/) : oneLine ? [oneLine[1]!] : [];
      for (const uri of found) if (/^https?:\/\//.test(uri)) uris.add(uri);
    }
  }
  return [...uris];
}

/** A quick look: does any of the host's apt sources answer at all? */
async function aptReason(): Promise<string | undefined> {
  const uris = aptUris();
  if (uris.length === 0) return "the host has no http(s) apt source to bootstrap the base from";
  const failures: string[] = [];
  for (const uri of uris) {
    try {
      const response = await fetch(uri, { method: "HEAD", signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      return undefined;
    } catch (e) {
      failures.push(`${uri}: ${(e as Error).message}`);
    }
  }
  return `the host's apt sources do not answer (${failures.join("; ")})`;
}

/** Why end-to-end tests cannot run here, or undefined. */
export async function e2eReason(): Promise<string | undefined> {
  const sandbox = await skipReason();
  if (sandbox) return sandbox;
  if (!findProgram("mmdebstrap", searchDirs())) {
    return "mmdebstrap is not installed (apt-get install mmdebstrap), which the Debian base needs";
  }
  return await aptReason();
}
