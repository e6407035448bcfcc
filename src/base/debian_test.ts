import assert from "node:assert/strict";
import {
  aptSourcesFingerprint,
  hostAptSources,
  isDebianPackageName,
  mmdebstrapEnv,
  NoAptSourcesError,
  parseDebianRef,
  parseDpkgStatus,
  planMmdebstrap,
  RefError,
} from "./debian.ts";

Deno.test("parseDebianRef() takes a suite alone", () => {
  assert.deepEqual(parseDebianRef("debian:bookworm"), { suite: "bookworm", packages: [] });
  assert.deepEqual(parseDebianRef("debian:bookworm-backports").suite, "bookworm-backports");
  assert.deepEqual(parseDebianRef("debian:12.5").suite, "12.5");
});

Deno.test("parseDebianRef() sorts the packages and drops repeats", () => {
  assert.deepEqual(parseDebianRef("debian:trixie+git,curl,git,libstdc++6,g++"), {
    suite: "trixie",
    packages: ["curl", "g++", "git", "libstdc++6"],
  });
});

Deno.test("parseDebianRef() names the bad part and shows an example", () => {
  const cases: [string, RegExp][] = [
    ["debian:", /no suite after "debian:".*for example debian:bookworm/],
    ["debian:Bookworm", /"Bookworm" is not a suite name.*for example debian:bookworm/],
    ["debian:book worm", /"book worm" is not a suite name/],
    ["debian:-x", /"-x" is not a suite name/],
    ["debian:+curl", /no suite after "debian:"/],
    ["debian:bookworm+", /no packages after "\+".*for example debian:bookworm\+curl/],
    ["debian:bookworm+curl,,git", /an empty package name in "curl,,git"/],
    ["debian:bookworm+curl,", /an empty package name/],
    ["debian:bookworm+Curl", /"Curl" is not a Debian package name.*for example/],
    ["debian:bookworm+c", /"c" is not a Debian package name/],
    ["debian:bookworm+-x", /"-x" is not a Debian package name/],
    ["debian:bookworm+curl git", /"curl git" is not a Debian package name/],
    ["debian:bookworm+curl=7.88.1-10", /"curl=7.88.1-10": .*name only, without a version/],
    ["ubuntu:noble", /base "ubuntu:noble": not a Debian base/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseDebianRef(text), (e: unknown) => {
      assert.ok(e instanceof RefError, text);
      assert.match(e.message, message, text);
      return true;
    });
  }
});

Deno.test("isDebianPackageName() follows Debian policy for names", () => {
  for (const name of ["hello", "g++", "libc6", "0ad", "python3.11", "x-y.z+1"]) {
    assert.ok(isDebianPackageName(name), name);
  }
  for (const name of ["", "a", "Hello", "-a", "+a", "a_b", "a b", "a=1", "a/b"]) {
    assert.ok(!isDebianPackageName(name), name);
  }
});

function fakeRoot(files: Record<string, string>): string {
  const root = Deno.makeTempDirSync({ prefix: "nsbuild-debian-test-" });
  Deno.mkdirSync(`${root}/etc/apt/sources.list.d`, { recursive: true });
  for (const [path, text] of Object.entries(files)) Deno.writeTextFileSync(`${root}${path}`, text);
  return root;
}

const DEB822 = "Types: deb\nURIs: file:/srv/debian\nSuites: bookworm\nComponents: main\n";
const ONE_LINE = "deb file:/srv/debian bookworm main\n";

Deno.test("hostAptSources() reads sources.list, then .list and .sources parts by name", () => {
  const root = fakeRoot({
    "/etc/apt/sources.list": `# a comment\n${ONE_LINE}`,
    "/etc/apt/sources.list.d/z.list": ONE_LINE,
    "/etc/apt/sources.list.d/b.sources": DEB822,
    "/etc/apt/sources.list.d/a.list": ONE_LINE,
  });
  try {
    const files = hostAptSources(root);
    assert.deepEqual(files.map((f) => [f.name, f.format]), [
      ["/etc/apt/sources.list", "list"],
      ["/etc/apt/sources.list.d/a.list", "list"],
      ["/etc/apt/sources.list.d/b.sources", "sources"],
      ["/etc/apt/sources.list.d/z.list", "list"],
    ]);
    assert.equal(files[2]!.path, `${root}/etc/apt/sources.list.d/b.sources`);
    assert.equal(files[2]!.text, DEB822);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hostAptSources() leaves out files apt ignores and files without entries", () => {
  const root = fakeRoot({
    "/etc/apt/sources.list": "# See /etc/apt/sources.list.d/debian.sources\n\n",
    "/etc/apt/sources.list.d/debian.sources": DEB822,
    "/etc/apt/sources.list.d/cloud.list.disabled-by-farm": ONE_LINE,
    "/etc/apt/sources.list.d/node.sources.disabled-by-farm": DEB822,
    "/etc/apt/sources.list.d/old.list.save": ONE_LINE,
    "/etc/apt/sources.list.d/with space.list": ONE_LINE,
    "/etc/apt/sources.list.d/empty.list": "",
  });
  Deno.mkdirSync(`${root}/etc/apt/sources.list.d/dir.list`);
  try {
    assert.deepEqual(hostAptSources(root).map((f) => f.name), [
      "/etc/apt/sources.list.d/debian.sources",
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hostAptSources() is empty for a root without apt configuration", () => {
  const root = Deno.makeTempDirSync({ prefix: "nsbuild-debian-test-" });
  try {
    assert.deepEqual(hostAptSources(root), []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("aptSourcesFingerprint() changes with any file's name or content, not with the root", () => {
  const files = [
    { path: "/r1/etc/apt/sources.list", name: "/etc/apt/sources.list", format: "list", text: "a" },
    { path: "/r1/etc/apt/x.list", name: "/etc/apt/x.list", format: "list", text: "b" },
  ] as const;
  const base = aptSourcesFingerprint(files);
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(
    aptSourcesFingerprint(files.map((f) => ({ ...f, path: f.path.replace("/r1", "/r2") }))),
    base,
  );
  const variants = [
    [files[0]],
    [{ ...files[0], text: "a " }, files[1]],
    [files[0], { ...files[1], name: "/etc/apt/y.list" }],
    [files[1], files[0]],
    // Name and content run together would read the same as the two files.
    [{ ...files[0], text: "a/etc/apt/x.listb" }],
  ];
  const prints = new Set(variants.map((v) => aptSourcesFingerprint(v)));
  assert.equal(prints.size, variants.length);
  assert.ok(!prints.has(base));
  assert.notEqual(aptSourcesFingerprint([]), base);
});

Deno.test("planMmdebstrap() writes a minbase tar to stdout from each host source file", () => {
  assert.deepEqual(
    planMmdebstrap({
      suite: "bookworm",
      packages: [],
      sourceFiles: [{ path: "/etc/apt/sources.list.d/debian.sources" }],
    }),
    [
      "mmdebstrap",
      "--mode=unshare",
      "--variant=minbase",
      "--format=tar",
      `--customize-hook=echo nsbuild > "$1/etc/hostname"`,
      "--",
      "bookworm",
      "-",
      "/etc/apt/sources.list.d/debian.sources",
    ],
  );
});

Deno.test("planMmdebstrap() adds the architecture and the packages, mirrors in order", () => {
  const argv = planMmdebstrap({
    suite: "trixie",
    packages: ["ca-certificates", "curl"],
    sourceFiles: [{ path: "/etc/apt/sources.list" }, { path: "/etc/apt/sources.list.d/b.sources" }],
    arch: "arm64",
  });
  assert.ok(argv.includes("--architectures=arm64"));
  assert.ok(argv.includes("--include=ca-certificates,curl"));
  assert.deepEqual(argv.slice(argv.indexOf("--")), [
    "--",
    "trixie",
    "-",
    "/etc/apt/sources.list",
    "/etc/apt/sources.list.d/b.sources",
  ]);
});

Deno.test("planMmdebstrap() refuses to run without host sources, which would mean mmdebstrap's own mirror", () => {
  assert.throws(
    () => planMmdebstrap({ suite: "bookworm", packages: [], sourceFiles: [] }),
    (e: unknown) => e instanceof NoAptSourcesError && /debian:bookworm/.test(e.message) && !!e.hint,
  );
});

Deno.test("mmdebstrapEnv() sets SOURCE_DATE_EPOCH to the start of the UTC day", () => {
  assert.deepEqual(mmdebstrapEnv(new Date("2025-05-20T17:42:11Z")), {
    SOURCE_DATE_EPOCH: String(Date.parse("2025-05-20T00:00:00Z") / 1000),
  });
  assert.deepEqual(
    mmdebstrapEnv(new Date("2025-05-20T00:00:00Z")),
    mmdebstrapEnv(new Date("2025-05-20T23:59:59Z")),
  );
});

const STATUS = `Package: zlib1g
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.
 .
 Status: install ok installed

Package: old-removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: base-files
Essential: yes
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
Conffiles:
 /etc/debian_version 1234
 /etc/host.conf 5678

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 2

Package: zlib1g
Status: install ok installed
Architecture: i386
Version: 1:1.2.13.dfsg-1

Package: pinned
Status: hold ok installed
Architecture: all
Version: 3.0`;

Deno.test("parseDpkgStatus() lists installed packages by name and architecture", () => {
  assert.deepEqual(parseDpkgStatus(STATUS), [
    { name: "base-files", version: "12.4+deb12u5", architecture: "amd64" },
    { name: "pinned", version: "3.0", architecture: "all" },
    { name: "zlib1g", version: "1:1.2.13.dfsg-1", architecture: "amd64" },
    { name: "zlib1g", version: "1:1.2.13.dfsg-1", architecture: "i386" },
  ]);
});

Deno.test("parseDpkgStatus() reads CRLF text, extra blank lines and an empty file", () => {
  assert.deepEqual(
    parseDpkgStatus(
      "\n\nPackage: a1\r\nStatus: install ok installed\r\nVersion: 1\r\nArchitecture: all\r\n\r\n\r\n",
    ),
    [{ name: "a1", version: "1", architecture: "all" }],
  );
  assert.deepEqual(parseDpkgStatus(""), []);
});
