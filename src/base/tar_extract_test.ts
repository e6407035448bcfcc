import assert from "node:assert/strict";
import { ArchiveError, extractArchive, type ExtractedFile, extractTar } from "./tar_extract.ts";
import {
  archiveOf,
  chunked,
  concatBytes,
  describeTree,
  endOfArchive,
  paxMember,
  runTar,
  SAMPLE_TREE,
  sha256Hex,
  tarHeader,
  tarMember,
  type TreeSpec,
  withTempDir,
} from "./tar_testing.ts";

const ENCODER = new TextEncoder();
const MTIME = 1_700_000_000;

const sha = (text: string) => sha256Hex(ENCODER.encode(text));
const file = (name: string, data = "pwned\n", mode = 0o644) => tarMember({ name, data, mode });
const symlink = (name: string, target: string) =>
  tarHeader({ name, typeflag: "2", linkname: target });
const hardlink = (name: string, target: string) =>
  tarHeader({ name, typeflag: "1", linkname: target });
const dir = (name: string, mode = 0o755) => tarHeader({ name, typeflag: "5", mode });

/** Extracts into root/dest, beside root/outside, which nothing may touch, mode and times included. */
async function extractBeside(
  archive: (root: string) => Uint8Array,
  check: (result: Promise<ExtractedFile[]>, root: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (root) => {
    Deno.mkdirSync(`${root}/dest`);
    Deno.mkdirSync(`${root}/outside`);
    Deno.writeTextFileSync(`${root}/outside/target`, "untouched\n");
    Deno.chmodSync(`${root}/outside/target`, 0o600);
    Deno.utimeSync(`${root}/outside/target`, 1000, 1000);
    Deno.chmodSync(`${root}/outside`, 0o700);
    Deno.utimeSync(`${root}/outside`, 1000, 1000);
    await check(extractTar(chunked(archive(root), 700), `${root}/dest`), root);
    assert.deepEqual(describeTree(`${root}/outside`, { mtimes: true }), [
      `target file 600 ${sha("untouched\n")} mtime=1000`,
    ]);
    assert.equal(Deno.statSync(`${root}/outside`).mode! & 0o7777, 0o700);
    assert.equal(Deno.statSync(`${root}/outside`).mtime!.getTime(), 1000_000);
  });
}

Deno.test("extractTar() unpacks GNU tar's archive of a tree: files, directories, symlinks and hardlinks, with modes and times", async () => {
  const archive = await archiveOf(SAMPLE_TREE, []);
  await withTempDir(async (root) => {
    const { files, skipped } = await extractArchive(chunked(archive, 1000), root);
    assert.equal(skipped, 1, "the FIFO");
    const fileEntry = (path: string, data: string, mode = 0o644) => ({
      path,
      type: "file",
      size: data.length,
      sha256: sha(data),
      mode,
    });
    assert.deepEqual(files, [
      fileEntry("big.bin", "x".repeat(100_000), 0o755),
      fileEntry("block.bin", "b".repeat(512)),
      { path: "dir", type: "dir", size: 0, mode: 0o755 },
      { path: "dir/nested", type: "dir", size: 0, mode: 0o755 },
      fileEntry("dir/nested/deep.txt", "deep\n"),
      { path: "dir/private", type: "dir", size: 0, mode: 0o750 },
      fileEntry("empty", ""),
      fileEntry("hard", "hello\n"),
      { path: "link-abs", type: "symlink", size: 0, linkTarget: "/etc/passwd", mode: 0o777 },
      {
        path: "link-rel",
        type: "symlink",
        size: 0,
        linkTarget: "../dir/nested/deep.txt",
        mode: 0o777,
      },
      fileEntry("odd.bin", "o".repeat(513), 0o600),
      fileEntry("small.txt", "hello\n"),
    ]);
    const expected = await withTempDir(async (other) => {
      await runTar(["-x", "-p", "--exclude=./fifo", "-f", "-", "-C", other], { stdin: archive });
      return describeTree(other, { mtimes: true });
    });
    assert.deepEqual(describeTree(root, { mtimes: true }), expected);
    assert.equal(Deno.statSync(`${root}/hard`).ino, Deno.statSync(`${root}/small.txt`).ino);
    assert.equal(Deno.statSync(root).mode! & 0o7777, 0o700, "the root member's mode, applied");
    assert.equal(Deno.statSync(root).mtime!.getTime(), MTIME * 1000);
  });
});

Deno.test("extractTar() drops setuid and setgid bits and keeps a directory's sticky bit", async () => {
  const tree: TreeSpec = {
    "suid": { file: "#!/bin/sh\n", mode: 0o4755 },
    "sgid": { file: "#!/bin/sh\n", mode: 0o2711 },
    "sgid-dir": { dir: true, mode: 0o2775 },
    "tmp": { dir: true, mode: 0o1777 },
  };
  const archive = await archiveOf(tree, []);
  await withTempDir(async (root) => {
    const files = await extractTar(chunked(archive), root);
    assert.deepEqual(files.map((f) => [f.path, f.mode.toString(8)]), [
      ["sgid", "711"],
      ["sgid-dir", "775"],
      ["suid", "755"],
      ["tmp", "1777"],
    ]);
    assert.deepEqual(describeTree(root).map((line) => line.split(" ").slice(0, 3).join(" ")), [
      "sgid file 711",
      "sgid-dir dir 775",
      "suid file 755",
      "tmp dir 1777",
    ]);
  });
});

Deno.test("extractTar() gives a read-only directory its mode after filling it", async () => {
  const archive = concatBytes(
    dir("ro", 0o555),
    dir("ro/sub", 0o500),
    file("ro/sub/f", "inside\n", 0o444),
    endOfArchive(),
  );
  await withTempDir(async (root) => {
    await extractTar(chunked(archive), root);
    assert.deepEqual(describeTree(root), [
      "ro dir 555",
      "ro/sub dir 500",
      `ro/sub/f file 444 ${sha("inside\n")}`,
    ]);
  });
});

Deno.test("extractTar() makes the directories an archive of single paths leaves out", async () => {
  const archive = await archiveOf({ "a/b/c.txt": "c\n", "a/other": "o\n" }, [], ["a/b/c.txt"]);
  await withTempDir(async (root) => {
    const files = await extractTar(chunked(archive), root);
    assert.deepEqual(files.map((f) => f.path), ["a/b/c.txt"]);
    assert.deepEqual(describeTree(root).map((line) => line.split(" ").slice(0, 2).join(" ")), [
      "a dir",
      "a/b dir",
      "a/b/c.txt file",
    ]);
  });
});

Deno.test("extractTar() keeps the last of a member given twice, and one entry for it", async () => {
  const archive = concatBytes(
    file("a", "first\n"),
    symlink("b", "elsewhere"),
    file("c", "c\n"),
    file("a", "second\n"),
    file("b", "a file now\n"),
    symlink("c", "a"),
    dir("d"),
    dir("d"),
    endOfArchive(),
  );
  await withTempDir(async (root) => {
    const files = await extractTar(chunked(archive), root);
    assert.deepEqual(files.map((f) => [f.path, f.type, f.sha256 ?? f.linkTarget ?? ""]), [
      ["a", "file", sha("second\n")],
      ["b", "file", sha("a file now\n")],
      ["c", "symlink", "a"],
      ["d", "dir", ""],
    ]);
    assert.equal(Deno.readTextFileSync(`${root}/a`), "second\n");
    assert.equal(Deno.readLinkSync(`${root}/c`), "a");
  });
});

Deno.test("extractTar() copies a hardlink to a symlink as a symlink", async () => {
  const archive = concatBytes(symlink("s", "/etc"), hardlink("h", "s"), endOfArchive());
  await withTempDir(async (root) => {
    const files = await extractTar(chunked(archive), root);
    assert.deepEqual(files.map((f) => [f.path, f.type, f.linkTarget]), [
      ["s", "symlink", "/etc"],
      ["h", "symlink", "/etc"],
    ]);
    assert.equal(Deno.readLinkSync(`${root}/h`), "/etc");
  });
});

Deno.test("extractArchive() skips device nodes and FIFOs, and counts them", async () => {
  const archive = concatBytes(
    tarHeader({ name: "null", typeflag: "3", devmajor: 1, devminor: 3 }),
    tarHeader({ name: "sda", typeflag: "4", devmajor: 8 }),
    tarHeader({ name: "pipe", typeflag: "6" }),
    file("kept", "kept\n"),
    endOfArchive(),
  );
  await withTempDir(async (root) => {
    const { files, skipped } = await extractArchive(chunked(archive), root);
    assert.equal(skipped, 3);
    assert.deepEqual(files.map((f) => f.path), ["kept"]);
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["kept"]);
  });
});

Deno.test("extractTar() refuses a destination that is missing or not empty, and cancels the input", async () => {
  await withTempDir(async (root) => {
    let cancelled = 0;
    const input = () =>
      new ReadableStream<Uint8Array>({
        cancel() {
          cancelled++;
        },
      });
    Deno.writeTextFileSync(`${root}/already`, "here\n");
    await assert.rejects(
      () => extractTar(input(), root),
      /cannot extract into .*: it is not empty/,
    );
    await assert.rejects(() => extractTar(input(), `${root}/missing`), Deno.errors.NotFound);
    await assert.rejects(() => extractTar(input(), `${root}/already`), /is not a directory/);
    assert.equal(cancelled, 3);
  });
});

Deno.test("extractTar() refuses hostile members and writes nothing outside its destination", async () => {
  const cases: [string, (root: string) => Uint8Array[], RegExp][] = [
    [
      "an absolute name",
      (root) => [file(`${root}/outside/pwned`)],
      /absolute path: archives must hold relative names/,
    ],
    [
      "a .. component",
      () => [file("../outside/pwned")],
      /member "..\/outside\/pwned": ".." in the name/,
    ],
    [
      "a .. inside a pax name",
      () => [paxMember([["path", "a/../../outside/pwned"]]), file("a")],
      /".." in the name/,
    ],
    [
      "a relative symlink, written through",
      () => [symlink("s", "../outside"), file("s/pwned")],
      /member "s\/pwned": beneath "s", a symlink earlier in the archive/,
    ],
    [
      "an absolute symlink, written through",
      (root) => [symlink("s", `${root}/outside`), file("s/pwned")],
      /beneath "s"/,
    ],
    [
      "a symlink replaced by a directory, written through",
      () => [symlink("s", "../outside"), dir("s"), file("s/target")],
      /beneath "s"/,
    ],
    [
      "a hardlink to /etc/passwd",
      () => [hardlink("h", "/etc/passwd")],
      /member "h": hardlink to "\/etc\/passwd": hardlinks must point/,
    ],
    [
      "a hardlink through a symlink",
      () => [symlink("s", "../outside"), hardlink("h", "s/target")],
      /hardlink to "s\/target", beneath "s"/,
    ],
    [
      "a hardlink to a symlink, written through",
      () => [symlink("s", "../outside"), hardlink("h", "s"), file("h/pwned")],
      /member "h\/pwned": beneath "h"/,
    ],
    [
      "a hardlink to nothing earlier",
      () => [hardlink("h", "later"), file("later")],
      /member "h": hardlink to "later", which is not a file or symlink earlier in the archive/,
    ],
    [
      "a hardlink to a directory",
      () => [dir("d"), hardlink("h", "d")],
      /hardlink to "d", which is not a file or symlink/,
    ],
    [
      "a file over a directory",
      () => [dir("d"), file("d/x"), file("d")],
      /member "d": it would replace a directory/,
    ],
    [
      "a member beneath a file",
      () => [file("f"), file("f/x")],
      /member "f\/x": "f", earlier in the archive, is not a directory/,
    ],
    [
      "a root that is a symlink",
      () => [symlink("./", "../outside")],
      /member ".\/": only a directory may stand for the archive's root/,
    ],
    [
      "an old GNU sparse file",
      () => [tarMember({ name: "sparse", typeflag: "S", data: "x" })],
      /member "sparse": a sparse file, which nsbuild does not unpack/,
    ],
    [
      "a pax sparse file",
      () => [
        paxMember([["GNU.sparse.major", "1"], ["GNU.sparse.name", "sp"]]),
        file("GNUSparseFile.0/sp"),
      ],
      /member "sp": a sparse file/,
    ],
    [
      "an unknown type",
      () => [tarMember({ name: "odd", typeflag: "Z", data: "x" })],
      /member "odd": a member of type "Z": nsbuild unpacks only files, directories and links/,
    ],
  ];
  for (const [what, members, message] of cases) {
    await extractBeside(
      (root) => concatBytes(...members(root), endOfArchive()),
      async (result) => {
        await assert.rejects(() => result, (e: unknown) => {
          assert.ok(e instanceof ArchiveError, `${what}: ${e}`);
          assert.match(e.message, message, what);
          return true;
        });
      },
    );
  }
});

Deno.test("extractTar() never follows a symlink to set a mode or a time", async () => {
  const archive = () =>
    concatBytes(
      symlink("to-file", "../outside/target"),
      symlink("to-dir", "../outside"),
      // A directory member at a symlink's path gets a directory of its own.
      dir("to-dir", 0o755),
      hardlink("hard-to-symlink", "to-file"),
      endOfArchive(),
    );
  await extractBeside(archive, async (result, root) => {
    const files = await result;
    assert.deepEqual(files.map((f) => [f.path, f.type]), [
      ["to-file", "symlink"],
      ["to-dir", "dir"],
      ["hard-to-symlink", "symlink"],
    ]);
    assert.ok(Deno.lstatSync(`${root}/dest/to-dir`).isDirectory);
  });
});

Deno.test("extractTar() refuses a truncated archive as the reader does", async () => {
  const archive = concatBytes(file("a", "x".repeat(3000)), endOfArchive());
  await withTempDir(async (root) => {
    await assert.rejects(
      () => extractTar(chunked(archive.subarray(0, 2000)), root),
      /the archive ends inside member "a" at byte 2000: it is truncated or corrupt/,
    );
  });
});
