import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  AptSourceError,
  debSrcList,
  debSrcSources,
  explainMissing,
  fetchDebianSource,
  parsePrintUris,
  parseShowsrc,
  planAptSource,
  updateFailures,
} from "./apt_source.ts";
import { type AptSourceFile, hostAptSources } from "../base/debian.ts";
import { findProgram } from "../util/which.ts";

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

Deno.test("debSrcList() turns deb lines into deb-src lines and keeps the rest", () => {
  assert.equal(
    debSrcList(
      [
        "# deb file:/srv/old bookworm main",
        "deb file:/srv/debian bookworm main contrib",
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] file:/srv/x stable main",
        "  deb\tfile:/srv/tab bookworm main",
        "deb-src file:/srv/debian trixie main",
        "debian-is-not-a-type file:/srv bookworm main",
        "",
      ].join("\n"),
    ),
    [
      "# deb file:/srv/old bookworm main",
      "deb-src file:/srv/debian bookworm main contrib",
      "deb-src [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] file:/srv/x stable main",
      "  deb-src\tfile:/srv/tab bookworm main",
      "deb-src file:/srv/debian trixie main",
      "debian-is-not-a-type file:/srv bookworm main",
      "",
    ].join("\n"),
  );
});

Deno.test("debSrcList() names an entry once when the host had it as both deb and deb-src", () => {
  assert.equal(
    debSrcList("deb file:/srv/debian bookworm main\ndeb-src file:/srv/debian bookworm main\n"),
    "deb-src file:/srv/debian bookworm main\n",
  );
});

const KEY_BLOCK = [
  "Signed-By:",
  " -----BEGIN PGP PUBLIC KEY BLOCK-----",
  " .",
  " mDMEZ0000000000000000",
  " -----END PGP PUBLIC KEY BLOCK-----",
];

Deno.test("debSrcSources() reads Types: deb as deb-src and keeps every other line", () => {
  const text = [
    "Types: deb",
    "# a comment inside the stanza",
    "URIs: file:/srv/debian",
    "Suites: bookworm bookworm-updates",
    "Components: main",
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
    "",
    "types: deb deb-src",
    "URIs: file:/srv/security",
    "Suites: bookworm-security",
    "Components: main",
    ...KEY_BLOCK,
    "",
  ].join("\n");
  assert.equal(
    debSrcSources(text),
    [
      "Types: deb-src",
      "# a comment inside the stanza",
      "URIs: file:/srv/debian",
      "Suites: bookworm bookworm-updates",
      "Components: main",
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
      "",
      "types: deb-src",
      "URIs: file:/srv/security",
      "Suites: bookworm-security",
      "Components: main",
      ...KEY_BLOCK,
      "",
    ].join("\n"),
  );
});

Deno.test("debSrcSources() unfolds a folded Types field and leaves other types alone", () => {
  assert.equal(
    debSrcSources("Types:\n deb\n deb-src\nURIs: file:/srv/a\n\nTypes: deb-src\nURIs: file:/srv/b"),
    "Types: deb-src\nURIs: file:/srv/a\n\nTypes: deb-src\nURIs: file:/srv/b",
  );
});

Deno.test("debSrcSources() names a stanza once when the host had it as both deb and deb-src", () => {
  assert.equal(
    debSrcSources(
      "Types: deb\nURIs: file:/srv/a\nSuites: s\n\n\n# the same, for sources\nTypes: deb-src\nURIs: file:/srv/a\nSuites: s\n",
    ),
    "Types: deb-src\nURIs: file:/srv/a\nSuites: s",
  );
});

const SOURCES: AptSourceFile[] = [
  {
    path: "/host/etc/apt/sources.list",
    name: "/etc/apt/sources.list",
    format: "list",
    text: "deb file:/srv/debian bookworm main\n",
  },
  {
    path: "/host/etc/apt/sources.list.d/debian.sources",
    name: "/etc/apt/sources.list.d/debian.sources",
    format: "sources",
    text: "Types: deb\nURIs: file:/srv/debian\nSuites: trixie\nComponents: main\n",
  },
];

Deno.test("planAptSource() keeps apt's lists, caches and sources in the work directory", () => {
  const plan = planAptSource({
    name: "hello",
    version: "2.10-3",
    workDir: "/w",
    sourceFiles: SOURCES,
    asRoot: false,
  });
  const options = [
    "-c",
    "/w/apt.conf",
    "-o",
    "Dir::Etc::SourceList=/w/sources.list",
    "-o",
    "Dir::Etc::SourceParts=/w/sources.list.d",
    "-o",
    "Dir::State::Lists=/w/lists",
    "-o",
    "Dir::Cache=/w/cache",
  ];
  assert.deepEqual(plan.update, ["apt-get", ...options, "update"]);
  assert.deepEqual(plan.printUris, [
    "apt-get",
    ...options,
    "--only-source",
    "--print-uris",
    "source",
    "hello=2.10-3",
  ]);
  assert.deepEqual(plan.download, [
    "apt-get",
    ...options,
    "--only-source",
    "--download-only",
    "source",
    "hello=2.10-3",
  ]);
  assert.deepEqual(plan.showsrc, ["apt-cache", ...options, "showsrc", "hello"]);
  assert.deepEqual(plan.dirs, [
    "/w/lists/partial",
    "/w/cache/archives/partial",
    "/w/sources.list.d",
  ]);
});

Deno.test("planAptSource() writes the host's sources as deb-src, in the host's order", () => {
  const plan = planAptSource({
    name: "hello",
    version: "2.10-3",
    workDir: "/w",
    sourceFiles: SOURCES,
    asRoot: false,
  });
  const files = Object.fromEntries(plan.files.map((f) => [f.path, f.text]));
  assert.deepEqual(Object.keys(files), [
    "/w/apt.conf",
    "/w/sources.list",
    "/w/sources.list.d/00-sources.list",
    "/w/sources.list.d/01-debian.sources",
  ]);
  assert.equal(files["/w/sources.list"], "");
  assert.equal(
    files["/w/sources.list.d/00-sources.list"],
    "# /etc/apt/sources.list, read as deb-src by nsbuild\ndeb-src file:/srv/debian bookworm main\n",
  );
  assert.match(files["/w/sources.list.d/01-debian.sources"]!, /^# .*\nTypes: deb-src\nURIs:/);
});

Deno.test("planAptSource() disables the host's update hooks", () => {
  const conf = planAptSource({
    name: "hello",
    version: "2.10-3",
    workDir: "/w",
    sourceFiles: SOURCES,
    asRoot: false,
  }).files[0]!.text;
  for (const hook of ["Pre-Invoke", "Post-Invoke", "Post-Invoke-Success"]) {
    assert.match(conf, new RegExp(`^#clear APT::Update::${hook};$`, "m"));
  }
});

Deno.test("planAptSource() as root keeps apt from handing downloads to its _apt user", () => {
  const input = { name: "hello", version: "1", workDir: "/w", sourceFiles: SOURCES };
  const asRoot = planAptSource({ ...input, asRoot: true });
  const asUser = planAptSource({ ...input, asRoot: false });
  for (const argv of [asRoot.update, asRoot.printUris, asRoot.download, asRoot.showsrc]) {
    assert.ok(argv.join(" ").includes("-o APT::Sandbox::User=root"), argv.join(" "));
  }
  assert.ok(!asUser.update.join(" ").includes("Sandbox"));
});

Deno.test("parsePrintUris() reads each file's name, size and SHA256", () => {
  const a = "a".repeat(64);
  assert.deepEqual(
    parsePrintUris(
      [
        "Reading package lists...",
        "Need to get 741 kB of source archives.",
        `'http://127.0.0.1/pool/main/h/hello/hello_2.10-3.dsc' hello_2.10-3.dsc 1721 SHA256:${a}`,
        "'http://127.0.0.1/pool/main/h/hello/hello_2.10.orig.tar.gz' hello_2.10.orig.tar.gz 725946 MD5Sum:0123",
      ].join("\n"),
    ),
    [
      {
        uri: "http://127.0.0.1/pool/main/h/hello/hello_2.10-3.dsc",
        name: "hello_2.10-3.dsc",
        size: 1721,
        sha256: a,
      },
      {
        uri: "http://127.0.0.1/pool/main/h/hello/hello_2.10.orig.tar.gz",
        name: "hello_2.10.orig.tar.gz",
        size: 725946,
      },
    ],
  );
});

const SHOWSRC = `Package: glibc
Binary: libc-bin, libc-dev-bin, libc6,
 libc6-dev
Version: 2.36-8
Package-List:
 libc6 deb libs required arch=any

Package: glibc
Binary: libc6
Version: 2.36-9+deb12u10

Package: hello
Binary: hello
Standards-Version: 4.6.0
Version: 2.10-3
`;

Deno.test("parseShowsrc() reads each record's package, version and binaries", () => {
  assert.deepEqual(parseShowsrc(SHOWSRC), [
    {
      package: "glibc",
      version: "2.36-8",
      binaries: ["libc-bin", "libc-dev-bin", "libc6", "libc6-dev"],
    },
    { package: "glibc", version: "2.36-9+deb12u10", binaries: ["libc6"] },
    { package: "hello", version: "2.10-3", binaries: ["hello"] },
  ]);
});

Deno.test("explainMissing() lists the versions the sources have", () => {
  const { message, hint } = explainMissing("hello", "2.10-9", parseShowsrc(SHOWSRC));
  assert.equal(message, "hello 2.10-9 is not in the host's apt sources, which have hello 2.10-3");
  assert.match(hint, /one of those versions/);
});

Deno.test("explainMissing() names the source package of a binary package", () => {
  const { message, hint } = explainMissing("libc6", "2.36-8", parseShowsrc(SHOWSRC));
  assert.match(
    message,
    /"libc6" is a binary package.*built by glibc \(2\.36-8, 2\.36-9\+deb12u10\)/,
  );
  assert.match(hint, /source package glibc/);
});

Deno.test("explainMissing() says when no source package has the name", () => {
  const { message, hint } = explainMissing("nosuch", "1", []);
  assert.equal(message, `no source package "nosuch" in the host's apt sources`);
  assert.match(hint, /check the name/);
});

Deno.test("updateFailures() finds failed fetches although apt-get update exited 0", () => {
  const lines = [
    "Hit:1 file:/srv/a bookworm InRelease",
    "Err:2 http://127.0.0.1:9/debian bookworm InRelease",
    "W: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect",
    "W: Some index files failed to download. They have been ignored, or old ones used instead.",
  ];
  assert.deepEqual(updateFailures({ success: true, lines }), lines.slice(1));
  assert.deepEqual(
    updateFailures({ success: true, lines: ["W: Skipping acquire of configured file"] }),
    [],
  );
  assert.deepEqual(updateFailures({ success: false, lines: ["Killed"] }), ["Killed"]);
});

/** A stand-in for apt-get and apt-cache: a shell script answering each command. */
function fakeApt(dir: string, files: Record<string, string>, opts: { lie?: boolean } = {}) {
  const uris = Object.entries(files).map(([name, text]) =>
    `'file:/srv/pool/${name}' ${name} ${text.length} SHA256:${
      opts.lie ? "0".repeat(64) : sha256(text)
    }`
  );
  const writes = Object.entries(files).map(([name, text]) => `printf '%s' '${text}' > '${name}'`);
  const script = `#!/bin/sh
for last; do :; done
case " $* " in
  *" update "*) echo "Get:1 file:/srv bookworm InRelease"; echo "Reading package lists..." ;;
  *" --print-uris "*) echo "Reading package lists..."; printf '%s\\n' ${
    uris.map((u) => `"${u}"`).join(" ")
  } ;;
  *" --download-only "*) ${writes.join("; ")}; echo "Get:1 file:/srv $last (dsc)" >&2 ;;
  *) exit 3 ;;
esac
`;
  const path = `${dir}/fake-apt`;
  Deno.writeTextFileSync(path, script, { mode: 0o755 });
  return { aptGet: path, aptCache: path };
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "nsbuild-apt-test-" });
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("fetchDebianSource() streams apt's lines and returns each file's size and sha256", async () => {
  await withTemp(async (dir) => {
    const files = { "x_1.dsc": "dsc\n", "x_1.tar.xz": "tarball" };
    const lines: string[] = [];
    const fetched = await fetchDebianSource({
      name: "x1",
      version: "1",
      workDir: `${dir}/work`,
      destDir: `${dir}/dest`,
      sourceFiles: SOURCES,
      programs: fakeApt(dir, files),
      onLine: (line) => lines.push(line),
    });
    assert.deepEqual(fetched, [
      { name: "x_1.dsc", size: 4, sha256: sha256("dsc\n") },
      { name: "x_1.tar.xz", size: 7, sha256: sha256("tarball") },
    ]);
    assert.deepEqual(lines, [
      "Get:1 file:/srv bookworm InRelease",
      "Reading package lists...",
      "Get:1 file:/srv x1=1 (dsc)",
    ]);
    assert.equal(
      Deno.readTextFileSync(`${dir}/work/sources.list.d/01-debian.sources`).split("\n")[1],
      "Types: deb-src",
    );
  });
});

Deno.test("fetchDebianSource() drops source files an earlier fetch wrote and the host no longer has", async () => {
  await withTemp(async (dir) => {
    Deno.mkdirSync(`${dir}/work/sources.list.d`, { recursive: true });
    Deno.writeTextFileSync(
      `${dir}/work/sources.list.d/07-gone.list`,
      "deb-src file:/gone x main\n",
    );
    await fetchDebianSource({
      name: "x1",
      version: "1",
      workDir: `${dir}/work`,
      destDir: `${dir}/dest`,
      sourceFiles: SOURCES.slice(0, 1),
      programs: fakeApt(dir, { "x_1.dsc": "d" }),
    });
    assert.deepEqual([...Deno.readDirSync(`${dir}/work/sources.list.d`)].map((e) => e.name), [
      "00-sources.list",
    ]);
  });
});

Deno.test("fetchDebianSource() refuses a file that differs from the index", async () => {
  await withTemp(async (dir) => {
    await assert.rejects(
      fetchDebianSource({
        name: "x1",
        version: "1",
        workDir: `${dir}/work`,
        destDir: `${dir}/dest`,
        sourceFiles: SOURCES,
        programs: fakeApt(dir, { "x_1.dsc": "d" }, { lie: true }),
      }),
      (e: unknown) =>
        e instanceof AptSourceError && /x_1\.dsc is not what the index lists/.test(e.message),
    );
  });
});

Deno.test("fetchDebianSource() rejects a bad name or version before running apt", async () => {
  for (
    const [name, version, what] of [["Hello", "1", "package name"], ["hello", "v1 x", "version"]]
  ) {
    await assert.rejects(
      fetchDebianSource({
        name: name!,
        version: version!,
        workDir: "/nonexistent/work",
        destDir: "/nonexistent/dest",
        sourceFiles: SOURCES,
        programs: { aptGet: "/nonexistent/apt-get" },
      }),
      (e: unknown) =>
        e instanceof AptSourceError && e.message.includes(`is not a Debian ${what}`) &&
        e.pkg === name && e.version === version && e.hint !== "",
    );
  }
});

Deno.test("fetchDebianSource() says so when apt is not installed or the host has no sources", async () => {
  await withTemp(async (dir) => {
    const options = { name: "hello", version: "1", workDir: `${dir}/w`, destDir: `${dir}/d` };
    await assert.rejects(
      fetchDebianSource({ ...options, sourceFiles: [] }),
      (e: unknown) => e instanceof AptSourceError && /no apt sources/.test(e.message),
    );
    await assert.rejects(
      fetchDebianSource({
        ...options,
        sourceFiles: SOURCES,
        programs: { aptGet: `${dir}/no-apt-get` },
      }),
      (e: unknown) =>
        e instanceof AptSourceError && /apt-get is not installed/.test(e.message) &&
        /with apt: install it/.test(e.hint),
    );
  });
});

// With the real apt: a source that does not exist, then the host's own sources.

const aptGet = findProgram("apt-get");

Deno.test({
  name: "fetchDebianSource() reports a source apt cannot fetch from, with apt's errors",
  ignore: !aptGet,
  async fn() {
    await withTemp(async (dir) => {
      const unreachable: AptSourceFile = {
        path: `${dir}/x.sources`,
        name: "/etc/apt/sources.list.d/x.sources",
        format: "sources",
        // Fails at once, with no network (a refused connection is retried for seconds).
        text: "Types: deb\nURIs: file:/nonexistent/debian\nSuites: bookworm\nComponents: main\n",
      };
      await assert.rejects(
        fetchDebianSource({
          name: "hello",
          version: "2.10-3",
          workDir: `${dir}/work`,
          destDir: `${dir}/dest`,
          sourceFiles: [unreachable],
        }),
        (e: unknown) => {
          assert.ok(e instanceof AptSourceError);
          assert.match(e.message, /^Debian source hello=2\.10-3: apt-get update could not fetch/);
          assert.ok(
            e.lines.some((l) => l.includes("file:/nonexistent/debian")),
            e.lines.join("\n"),
          );
          assert.match(e.hint, /check the network/);
          return true;
        },
      );
    });
  },
});

/** Why the fetch from the host's sources cannot run here, or undefined if it can. */
async function hostFetchUnavailable(): Promise<string | undefined> {
  if (!aptGet) return "apt-get is not installed";
  let osRelease = "";
  try {
    osRelease = Deno.readTextFileSync("/etc/os-release");
  } catch { /* no os-release */ }
  if (!/^ID=debian$/m.test(osRelease)) return "the host is not Debian (hello 2.10-3 is Debian's)";
  const sources = hostAptSources();
  const uri = sources
    .flatMap((f) => f.text.split("\n").filter((l) => !l.trimStart().startsWith("#")))
    .flatMap((line) => line.match(/\bhttps?:\/\/[^\s\]]+/g) ?? [])
    .map((u) => new URL(u))[0];
  if (!uri) return "the host's apt sources have no http(s) URI";
  const port = Number(uri.port || (uri.protocol === "https:" ? 443 : 80));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const conn = await Promise.race([
      Deno.connect({ hostname: uri.hostname, port }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer in 3 s")), 3000);
      }),
    ]);
    conn.close();
    return undefined;
  } catch (e) {
    return `cannot reach the host's first apt source (${(e as Error).message})`;
  } finally {
    clearTimeout(timer);
  }
}

const unavailable = await hostFetchUnavailable();
if (unavailable) console.log(`skipping the fetch through the host's apt sources: ${unavailable}`);

Deno.test({
  name: "fetchDebianSource() fetches hello 2.10-3 through the host's apt sources",
  ignore: unavailable !== undefined,
  async fn(t) {
    await withTemp(async (dir) => {
      const hostLists = Deno.statSync("/var/lib/apt/lists").mtime?.getTime();
      const workDir = `${dir}/work`;
      const destDir = `${dir}/dest`;
      const lines: string[] = [];
      const fetched = await fetchDebianSource({
        name: "hello",
        version: "2.10-3",
        workDir,
        destDir,
        onLine: (line) => lines.push(line),
      });
      await t.step("the .dsc and the upstream tarball arrive", () => {
        const names = fetched.map((f) => f.name);
        assert.ok(names.includes("hello_2.10-3.dsc"), names.join(" "));
        assert.ok(names.includes("hello_2.10.orig.tar.gz"), names.join(" "));
        assert.ok(lines.some((l) => l.startsWith("Get:")), lines.join("\n"));
      });
      await t.step("the digests are those of the files on disk", () => {
        for (const file of fetched) {
          const data = Deno.readFileSync(`${destDir}/${file.name}`);
          assert.equal(file.size, data.length, file.name);
          assert.equal(file.sha256, sha256(data), file.name);
        }
      });
      await t.step("the digests are those the signed .dsc lists", () => {
        const dsc = Deno.readTextFileSync(`${destDir}/hello_2.10-3.dsc`);
        const listed = /^Checksums-Sha256:\n((?: .*\n)+)/m.exec(dsc)![1]!.trim().split("\n");
        for (const line of listed) {
          const [digest, size, name] = line.trim().split(/\s+/);
          assert.deepEqual(
            fetched.find((f) => f.name === name),
            { name, size: Number(size), sha256: digest },
          );
        }
      });
      await t.step("the host's apt lists are left alone", () => {
        assert.equal(Deno.statSync("/var/lib/apt/lists").mtime?.getTime(), hostLists);
      });
      await t.step("a version the sources lack is named with those they have", async () => {
        await assert.rejects(
          fetchDebianSource({ name: "hello", version: "0.0-0", workDir, destDir }),
          (e: unknown) => {
            assert.ok(e instanceof AptSourceError);
            assert.match(e.message, /hello 0\.0-0 is not in the host's apt sources, which have/);
            assert.ok(e.message.includes("2.10-3"), e.message);
            assert.equal(e.pkg, "hello");
            assert.equal(e.version, "0.0-0");
            assert.ok(e.lines.some((l) => /Can not find version/.test(l)), e.lines.join("\n"));
            return true;
          },
        );
      });
    });
  },
});
