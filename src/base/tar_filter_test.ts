import assert from "node:assert/strict";
import { ArchiveError, type FilterResult, filterTar, memberPath } from "./tar_filter.ts";
import {
  archiveOf,
  base256,
  chunked,
  concatBytes,
  describeTree,
  endOfArchive,
  gnuLong,
  makeTree,
  membersOf,
  paxMember,
  runTar,
  SAMPLE_TREE,
  sha256Hex,
  tarHeader,
  tarMember,
  type TreeSpec,
  withTempDir,
} from "./tar_testing.ts";

async function filtered(
  archive: Uint8Array,
  chunk = 65536,
): Promise<{ result: FilterResult; output: Uint8Array; writes: number }> {
  const parts: Uint8Array[] = [];
  const result = await filterTar(chunked(archive, chunk), async (part) => {
    parts.push(part.slice());
    await Promise.resolve();
  });
  return { result, output: concatBytes(...parts), writes: parts.length };
}

async function refusal(archive: Uint8Array): Promise<string> {
  try {
    await filtered(archive);
  } catch (e) {
    assert.ok(e instanceof ArchiveError, `not an ArchiveError: ${e}`);
    return e.message;
  }
  throw new Error("the archive passed the filter");
}

/** Unpacks with GNU tar as nsbuild's import does, and describes what it made. */
async function unpacked(output: Uint8Array): Promise<{ tree: string[]; stderr: string }> {
  return await withTempDir(async (dir) => {
    const { stderr } = await runTar(["-x", "--numeric-owner", "-p", "-f", "-", "-C", dir], {
      stdin: output,
    });
    return { tree: describeTree(dir, { mtimes: true }), stderr };
  });
}

function treeOf(spec: TreeSpec): string[] {
  const dir = Deno.makeTempDirSync();
  try {
    makeTree(dir, spec);
    // As archived by archiveOf(): every time fixed.
    const walk = (rel: string) => {
      for (const item of Deno.readDirSync(`${dir}/${rel}`)) {
        const path = `${rel}/${item.name}`;
        if (item.isDirectory) walk(path);
        if (!item.isSymlink) Deno.utimeSync(`${dir}/${path}`, 1_700_000_000, 1_700_000_000);
      }
    };
    walk(".");
    return describeTree(dir, { mtimes: true });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const LONG = `${"long-".repeat(25)}/${"name-".repeat(25)}.txt`;
const LONG_TREE: TreeSpec = {
  ...SAMPLE_TREE,
  [LONG]: "a long name\n",
  "long-target": { symlink: `${"t".repeat(150)}/x` },
  "long-hardlink": { hardlink: LONG },
};

for (const format of ["gnu", "posix"]) {
  Deno.test(`filterTar() passes GNU tar's --format=${format} archive through unchanged, long names and all, ending it with two zero blocks`, async () => {
    const archive = await archiveOf(LONG_TREE, [`--format=${format}`]);
    const { result, output } = await filtered(archive);
    const members = await membersOf(archive);
    assert.deepEqual(output, concatBytes(members, endOfArchive()));
    assert.deepEqual(result, {
      digest: sha256Hex(output),
      members: 18,
      skippedDevices: 0,
      bytes: output.length,
    });
  });

  Deno.test(`filterTar() output of --format=${format}, unpacked by GNU tar, is the input's tree, without a warning`, async () => {
    const archive = await archiveOf(LONG_TREE, [`--format=${format}`]);
    const { tree, stderr } = await unpacked((await filtered(archive)).output);
    assert.equal(stderr, "");
    assert.deepEqual(tree, treeOf(LONG_TREE));
  });
}

Deno.test("filterTar() drops character and block devices with their long name and pax blocks, and counts them", async () => {
  const members = await membersOf(await archiveOf(SAMPLE_TREE, ["--format=gnu"]));
  const after = tarMember({ name: "after", data: "after the devices\n", mtime: 1_700_000_000 });
  const devices = concatBytes(
    tarHeader({ name: "./dev/null", typeflag: "3", mode: 0o666, devmajor: 1, devminor: 3 }),
    gnuLong("L", `./dev/${"d".repeat(120)}`),
    tarHeader({ name: "./dev/ddd", typeflag: "4", format: "gnu", devmajor: 8, devminor: 0 }),
    paxMember([["path", `./dev/${"p".repeat(120)}`], ["uid", "0"]]),
    tarHeader({ name: "./dev/ppp", typeflag: "3", devmajor: 1, devminor: 5 }),
  );
  const archive = concatBytes(members, devices, after, endOfArchive());
  for (const chunk of [1, 700, 65536]) {
    const { result, output } = await filtered(archive, chunk);
    assert.deepEqual(output, concatBytes(members, after, endOfArchive()), `chunks of ${chunk}`);
    assert.equal(result.skippedDevices, 3);
    assert.equal(result.members, 15);
  }
  const { tree, stderr } = await unpacked((await filtered(archive)).output);
  assert.equal(stderr, "");
  assert.deepEqual(tree, treeOf({ ...SAMPLE_TREE, after: "after the devices\n" }));
});

Deno.test("filterTar() digest is the sha256 of exactly the bytes written, whatever the input's chunk sizes", async () => {
  const archive = await archiveOf(LONG_TREE, ["--format=posix"]);
  const digests = new Set<string>();
  for (const chunk of [1, 511, 512, 513, 4096, 65536, 1 << 20]) {
    const { result, output } = await filtered(archive, chunk);
    assert.equal(result.digest, sha256Hex(output), `chunks of ${chunk}`);
    digests.add(result.digest);
  }
  assert.equal(digests.size, 1);
});

Deno.test("filterTar() writes in large batches, not once per member", async () => {
  const many = Array.from({ length: 2000 }, (_, i) => tarMember({ name: `f${i}`, data: `${i}` }));
  const archive = concatBytes(...many, endOfArchive());
  const { result, writes } = await filtered(archive, 64 * 1024);
  assert.equal(result.members, 2000);
  assert.ok(writes < 40, `${writes} writes for ${result.members} members`);
});

Deno.test("filterTar() passes a base-256 size that GNU tar reads alike", async () => {
  const archive = concatBytes(
    tarMember({ name: "binary-size", data: "five!", raw: { 124: base256(5, 12) } }),
    tarMember({ name: "next", data: "next\n" }),
    endOfArchive(),
  );
  const { tree } = await unpacked((await filtered(archive)).output);
  assert.deepEqual(tree.map((line) => line.split(" ").slice(0, 2).join(" ")), [
    "binary-size file",
    "next file",
  ]);
});

const file = (name: string, fields: Partial<Parameters<typeof tarMember>[0]> = {}) =>
  tarMember({ name, data: "pwned\n", ...fields });
const symlink = (name: string, target: string) =>
  tarHeader({ name, typeflag: "2", linkname: target });
const hardlink = (name: string, target: string) =>
  tarHeader({ name, typeflag: "1", linkname: target });
const dir = (name: string) => tarHeader({ name, typeflag: "5", mode: 0o755 });

const REFUSED: [string, Uint8Array[], RegExp][] = [
  [
    "an absolute name",
    [file("/etc/passwd")],
    /^member "\/etc\/passwd": absolute path: archives must hold relative names \(at byte 0\)$/,
  ],
  [
    "an absolute name after ./",
    [file(".//etc/passwd"), file("/etc/passwd")],
    /^member "\/etc\/passwd": absolute path.*\(at byte 1024\)$/,
  ],
  [
    "an absolute name from the ustar prefix",
    [file("passwd", { prefix: "/etc" })],
    /member "\/etc\/passwd": absolute path/,
  ],
  [
    "an absolute pax path",
    [paxMember([["path", "/etc/shadow"]]), file("harmless")],
    /member "\/etc\/shadow": absolute path/,
  ],
  [
    "a .. component",
    [file("../escape")],
    /^member "..\/escape": ".." in the name: archives must not climb out of their root/,
  ],
  [
    "a .. component inside",
    [file("a/../../escape")],
    /member "a\/..\/..\/escape": ".." in the name/,
  ],
  ["a .. component after ./", [file("./../escape")], /".." in the name/],
  ["a trailing ..", [dir("a/b/..")], /".." in the name/],
  [
    "a .. in a GNU long name",
    [gnuLong("L", `../${"x".repeat(120)}`), file("short")],
    /member "..\/x+": ".." in the name/,
  ],
  [
    "a NUL byte in a pax path",
    [paxMember([["path", "ok\0/../../x"]]), file("harmless")],
    /a NUL byte in the name/,
  ],
  ["an empty name", [file("")], /member "": an empty name/],
  [
    "a root that is not a directory",
    [symlink(".", "/etc")],
    /member ".": only a directory may stand for the archive's root/,
  ],
  [
    "a hardlink to an absolute path",
    [hardlink("h", "/etc/passwd")],
    /^member "h": hardlink to "\/etc\/passwd": hardlinks must point to an earlier member, inside the archive \(at byte 0\)$/,
  ],
  [
    "a hardlink climbing out",
    [hardlink("h", "a/../../etc/passwd")],
    /member "h": hardlink to "a\/..\/..\/etc\/passwd": hardlinks must point/,
  ],
  [
    "a hardlink to the root",
    [hardlink("h", "./")],
    /member "h": hardlink to ".\/": hardlinks must point/,
  ],
  ["a hardlink with a pax linkpath", [
    paxMember([["linkpath", "/etc/passwd"]]),
    hardlink("h", "ok"),
  ], /hardlink to "\/etc\/passwd"/],
  [
    "a member through an earlier symlink",
    [symlink("s", "/etc"), file("s/passwd")],
    /^member "s\/passwd": beneath "s", a symlink earlier in the archive: nothing may be written through a symlink \(at byte 512\)$/,
  ],
  [
    "a member through a symlink, spelt differently",
    [symlink("./s", "/"), file(".//s//etc/passwd")],
    /member ".\/\/s\/\/etc\/passwd": beneath "s"/,
  ],
  [
    "a member deep beneath a symlink",
    [dir("a"), symlink("a/b", "/tmp"), file("a/b/c/d")],
    /beneath "a\/b"/,
  ],
  ["a member beneath a symlink replaced by a directory", [
    symlink("s", "/etc"),
    dir("s"),
    file("s/passwd"),
  ], /beneath "s"/],
  ["a symlink named by pax, written through by a long name", [
    paxMember([["path", "s"]]),
    symlink("x", "/"),
    gnuLong("L", `s/${"y".repeat(120)}`),
    file("short"),
  ], /member "s\/y+": beneath "s"/],
  [
    "a symlink beneath a symlink",
    [symlink("s", "/"), symlink("s/t", "x")],
    /member "s\/t": beneath "s"/,
  ],
  [
    "a directory beneath a symlink",
    [symlink("s", "/"), dir("s/etc")],
    /member "s\/etc": beneath "s"/,
  ],
  [
    "a hardlink through an earlier symlink",
    [symlink("s", "/etc"), hardlink("h", "s/passwd")],
    /member "h": hardlink to "s\/passwd", beneath "s", a symlink earlier in the archive: nothing may be reached through a symlink/,
  ],
  ["a hardlink to a symlink, then written through", [
    symlink("s", "/etc"),
    hardlink("h", "s"),
    file("h/passwd"),
  ], /member "h\/passwd": beneath "h"/],
  [
    "a device with an absolute name",
    [tarHeader({ name: "/dev/sda", typeflag: "4" })],
    /member "\/dev\/sda": absolute path/,
  ],
  [
    "a global header renaming later members",
    [paxMember([["path", "x"]], "g"), file("a")],
    /^a global header at byte 0 sets "path" for every later member: refused$/,
  ],
  [
    "a global header resizing later members",
    [paxMember([["size", "0"]], "g"), file("a")],
    /sets "size" for every later member/,
  ],
  [
    "a global header with a sparse name",
    [paxMember([["GNU.sparse.name", "/x"]], "g"), file("a")],
    /sets "GNU.sparse.name"/,
  ],
];

Deno.test("filterTar() refuses hostile members, naming the member and the rule", async () => {
  for (const [what, members, message] of REFUSED) {
    const archive = concatBytes(...members, endOfArchive());
    assert.match(await refusal(archive), message, what);
  }
  assert.match(
    await refusal(concatBytes(file("."), endOfArchive())),
    /member ".": only a directory/,
  );
});

Deno.test("filterTar() keeps what a root filesystem holds: symlinks to anywhere, a member replacing a symlink, odd dotted names", async () => {
  const archive = concatBytes(
    dir("./"),
    symlink("./etc-link", "/etc"),
    symlink("./up", "../../.."),
    symlink("./usr-bin", "usr/bin"),
    file("./usr/bin/tool"),
    symlink("replaced", "usr/bin"),
    file("replaced", { data: "a file now\n" }),
    file("..data"),
    file("a..b"),
    file("..."),
    file("x/./y"),
    hardlink("hard-to-symlink", "etc-link"),
    hardlink("hard", "usr/bin/tool"),
    tarHeader({ name: "pipe", typeflag: "6" }),
    endOfArchive(),
  );
  const { result, output } = await filtered(archive);
  assert.equal(result.members, 14);
  assert.deepEqual(output, archive);
  const { tree } = await unpacked(output);
  assert.deepEqual(tree.map((line) => line.replace(/ mtime=.*/, "").replace(/ [0-9a-f]{64}/, "")), [
    "... file 644",
    "..data file 644",
    "a..b file 644",
    "etc-link symlink -> /etc",
    "hard file 644",
    "hard-to-symlink symlink -> /etc",
    "pipe other 644",
    "replaced file 644",
    "up symlink -> ../../..",
    "usr dir 755",
    "usr-bin symlink -> usr/bin",
    "usr/bin dir 755",
    "usr/bin/tool file 644",
    "x dir 755",
    "x/y file 644",
  ]);
});

Deno.test("filterTar() refuses truncated and corrupt archives as the reader does", async () => {
  const archive = concatBytes(file("a", { data: "x".repeat(2000) }), endOfArchive());
  assert.match(
    await refusal(archive.subarray(0, 1500)),
    /the archive ends inside member "a" at byte 1500: it is truncated or corrupt/,
  );
  assert.match(
    await refusal(archive.subarray(0, 200)),
    /not a tar archive: the input is only 200 bytes/,
  );
  assert.match(await refusal(new Uint8Array(0)), /the input is empty/);
  assert.match(
    await refusal(concatBytes(file("a", { badChecksum: true }), endOfArchive())),
    /header checksum mismatch at byte 0/,
  );
});

Deno.test("filterTar() cancels its input when it refuses a member, so the producer stops", async () => {
  let cancelled: unknown;
  let pulls = 0;
  const hostile = concatBytes(file("/etc/passwd"));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      controller.enqueue(pulls === 1 ? hostile : new Uint8Array(512));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  await assert.rejects(() => filterTar(stream, async () => {}), ArchiveError);
  assert.ok(cancelled instanceof ArchiveError);
});

Deno.test("memberPath() drops ./ and repeated slashes, and names what it refuses", () => {
  assert.deepEqual(memberPath("./a//b/./c/"), { path: "a/b/c" });
  assert.deepEqual(memberPath("./"), { path: "" });
  assert.deepEqual(memberPath("..."), { path: "..." });
  assert.deepEqual(memberPath("/a"), {
    problem: "absolute path: archives must hold relative names",
  });
  assert.deepEqual(memberPath("a/.."), {
    problem: '".." in the name: archives must not climb out of their root',
  });
});
