/**
 * Base references, as `--base` and recipes give them:
 *   dir:PATH                     a root filesystem directory, copied in;
 *   tar:PATH                     a tarball (plain, gzip, xz, zstd, bzip2);
 *   debian:SUITE[+PKG,PKG...]    bootstrapped with mmdebstrap from the host's apt sources.
 */
import { createHash } from "node:crypto";
import { absolutePath } from "../util/path.ts";
import { aptSourcesFingerprint, hostAptSources, parseDebianRef, RefError } from "./debian.ts";

export { RefError };

export type BaseRef =
  | { kind: "dir"; path: string }
  | { kind: "tar"; path: string }
  | { kind: "debian"; suite: string; packages: string[] };

const EXAMPLES =
  "dir:./rootfs, tar:base.tar.zst, debian:bookworm or debian:bookworm+build-essential";

export function parseBaseRef(text: string, cwd: string = Deno.cwd()): BaseRef {
  const colon = text.indexOf(":");
  const scheme = colon < 0 ? "" : text.slice(0, colon);
  const rest = colon < 0 ? "" : text.slice(colon + 1);
  switch (scheme) {
    case "dir":
    case "tar":
      if (!rest) {
        throw new RefError(
          `base "${text}": no path after "${scheme}:" (for example ${scheme}:./x)`,
        );
      }
      return { kind: scheme, path: absolutePath(rest, cwd) };
    case "debian": {
      const { suite, packages } = parseDebianRef(text);
      return { kind: "debian", suite, packages };
    }
    default:
      throw new RefError(`base "${text}": unknown kind of base; use one of ${EXAMPLES}`);
  }
}

/** The one spelling of a reference: what refs are keyed by and what `base ls` shows. */
export function formatBaseRef(ref: BaseRef): string {
  if (ref.kind === "debian") {
    return `debian:${ref.suite}${ref.packages.length ? `+${ref.packages.join(",")}` : ""}`;
  }
  return `${ref.kind}:${ref.path}`;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The key of a reference's record in refs/. */
export function refKey(ref: BaseRef): string {
  return sha256(formatBaseRef(ref)).slice(0, 32);
}

/**
 * A cheap identity of the source as it is now: when it changes, the cached
 * base no longer stands for the reference and is imported again (an
 * unchanged content still lands on the same entry).
 */
export function refFingerprint(ref: BaseRef, hostArch: string): string {
  switch (ref.kind) {
    case "tar": {
      const info = Deno.statSync(ref.path);
      return sha256(
        `tar\0${ref.path}\0${info.dev}\0${info.ino}\0${info.size}\0${info.mtime?.getTime()}`,
      );
    }
    case "dir":
      return treeFingerprint(ref.path);
    case "debian":
      // The suite moves on at the mirror; a base is kept until pruned or
      // refreshed, and it records the package versions it got.
      return sha256(
        `debian\0${ref.suite}\0${ref.packages.join(",")}\0${hostArch}\0${
          aptSourcesFingerprint(hostAptSources())
        }`,
      );
  }
}

/** Every entry's path, type, size, owner, mode and mtime, without reading contents. */
function treeFingerprint(root: string): string {
  const hash = createHash("sha256");
  const walk = (dir: string, rel: string) => {
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    for (const name of names) {
      const path = `${dir}/${name}`;
      const info = Deno.lstatSync(path);
      hash.update(
        `${rel}${name}\0${info.mode}\0${info.uid}\0${info.gid}\0${info.size}\0${info.mtime?.getTime()}\n`,
      );
      if (info.isDirectory) walk(path, `${rel}${name}/`);
    }
  };
  const top = Deno.statSync(root);
  if (!top.isDirectory) throw new RefError(`dir:${root} is not a directory`);
  walk(root, "");
  return hash.digest("hex");
}
