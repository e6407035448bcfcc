/** The host's architecture as Debian names it (what mmdebstrap and recipes use). */
const DEBIAN_ARCH: Record<string, string> = {
  x86_64: "amd64",
  aarch64: "arm64",
};

export function hostDebianArch(): string {
  return DEBIAN_ARCH[Deno.build.arch] ?? Deno.build.arch;
}
