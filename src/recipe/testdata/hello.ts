// Every field of a recipe, each kind of base and source at least once.
import type { Recipe } from "../../mod.ts";

export default {
  name: "hello",
  version: "2.12.1",
  description: "The GNU hello program, and a C file next to the recipe",
  base: { debian: "bookworm", packages: ["build-essential", "debhelper"] },
  sources: [
    {
      url: "https://example.org/releases/hello-2.12.1.tar.gz",
      sha256: "8d99142afd92576f30b0cd7cb42a8dc6809998bc5d607d88761f512e26c7db20",
    },
    { path: "files/hello.c" },
    { debian: "hello", version: "2.10-3", dest: "hello-debian" },
  ],
  env: { CFLAGS: "-O2", DEB_BUILD_OPTIONS: "nocheck" },
  steps: [
    { name: "unpack", run: "tar -xzf /src/hello-2.12.1.tar.gz -C /build" },
    {
      name: "build",
      run: ["make", "-j4"],
      cwd: "/build/hello-2.12.1",
      env: { LC_ALL: "C" },
    },
    { name: "install", run: "make install DESTDIR=/out", cwd: "/build/hello-2.12.1" },
    { name: "check-online", run: "true", network: true },
  ],
  outputs: ["/out/usr/local/bin", "/out/usr/local/share/man"],
  sourceDateEpoch: 1700000000,
} satisfies Recipe;
