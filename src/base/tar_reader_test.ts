import assert from "node:assert/strict";
import { ArchiveError, type TarEntry, TarReader } from "./tar_reader.ts";
import {
  archiveOf,
  base256,
  chunked,
  concatBytes,
  endOfArchive,
  gnuLong,
  makeTree,
  paxMember,
  runTar,
  SAMPLE_TREE,
  tarHeader,
  tarMember,
  withTempDir,
} from "./tar_testing.ts";

const TEXT = new TextDecoder();

interface Seen {
  type: string;
  path: string;
  linkpath: string;
  size: number;
  mode: number;
  data: string;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Seen[]> {
  const seen: Seen[] = [];
  for await (const entry of new TarReader(stream)) {
    const { type, path, linkpath, size, mode } = entry;
    seen.push({ type, path, linkpath, size, mode, data: TEXT.decode(await entry.bytes()) });
  }
  return seen;
}

async function readError(stream: ReadableStream<Uint8Array>): Promise<ArchiveError> {
  try {
    await readAll(stream);
  } catch (e) {
    assert.ok(e instanceof ArchiveError, `not an ArchiveError: ${e}`);
    return e;
  }
  throw new Error("the archive was read without an error");
}

const CHUNK_SIZES = [1, 7, 511, 512, 513, 4096, 65536];

/** What the reader should see of SAMPLE_TREE archived as "." with names sorted. */
function expected(): Seen[] {
  const file = (path: string, data: string, mode = 0o644) => ({
    type: "file",
    path: `./${path}`,
    linkpath: "",
    size: data.length,
    mode,
    data,
  });
  const other = (type: string, path: string, mode: number, linkpath = "") => ({
    type,
    path: `./${path}`,
    linkpath,
    size: 0,
    mode,
    data: "",
  });
  return [
    other("dir", "", 0o700),
    file("big.bin", "x".repeat(100_000), 0o755),
    file("block.bin", "b".repeat(512)),
    other("dir", "dir/", 0o755),
    other("dir", "dir/nested/", 0o755),
    file("dir/nested/deep.txt", "deep\n"),
    other("dir", "dir/private/", 0o750),
    file("empty", ""),
    other("fifo", "fifo", 0o644),
    // Sorted, "hard" comes first, so the archive holds it and links small.txt to it.
    file("hard", "hello\n"),
    other("symlink", "link-abs", 0o777, "/etc/passwd"),
    other("symlink", "link-rel", 0o777, "../dir/nested/deep.txt"),
    file("odd.bin", "o".repeat(513), 0o600),
    other("hardlink", "small.txt", 0o644, "./hard"),
  ];
}

async function gnuArchive(format: string): Promise<Uint8Array> {
  return await archiveOf(SAMPLE_TREE, ["--format", format]);
}

for (const format of ["gnu", "posix", "ustar"]) {
  Deno.test(`TarReader reads GNU tar's --format=${format}: names, types, sizes, modes, links and data, in chunks of any size`, async () => {
    const archive = await gnuArchive(format);
    for (const chunk of CHUNK_SIZES) {
      assert.deepEqual(await readAll(chunked(archive, chunk)), expected(), `chunks of ${chunk}`);
    }
  });
}

Deno.test("TarReader gives back every byte up to the end-of-archive block: headers, then stored data with its padding", async () => {
  const archive = await gnuArchive("posix");
  for (const chunk of CHUNK_SIZES) {
    const parts: Uint8Array[] = [];
    const reader = new TarReader(chunked(archive, chunk));
    for await (const entry of reader) {
      parts.push(entry.header.slice());
      for await (const piece of entry.stored()) parts.push(piece.slice());
    }
    const copy = concatBytes(...parts);
    assert.deepEqual(copy, archive.subarray(0, copy.length), `chunks of ${chunk}`);
    assert.ok(archive.subarray(copy.length).every((b) => b === 0));
    assert.equal(reader.offset, archive.length, "the whole input is read");
  }
});

Deno.test("TarReader hands out data as views of the input's chunks, not copies", async () => {
  const archive = tarMember({ name: "f", data: "z".repeat(3000) });
  const chunks: Uint8Array[] = [];
  const source = chunked(archive, 65536).pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  for await (const entry of new TarReader(source)) {
    assert.equal(entry.header.buffer, chunks[0]!.buffer);
    for await (const piece of entry.stored()) assert.equal(piece.buffer, chunks[0]!.buffer);
  }
});

Deno.test("TarReader resolves pax long names and long link targets (GNU tar --format=posix)", async () => {
  const long = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(70)}.txt`;
  const target = `${"t".repeat(120)}/target`;
  const archive = await withTempDir(async (dir) => {
    makeTree(dir, { [long]: "long\n", "s": { symlink: target } });
    return (await runTar(["--format=posix", "-C", dir, "-cf", "-", long, "s"])).stdout;
  });
  const entries: TarEntry[] = [];
  const data: string[] = [];
  for await (const entry of new TarReader(chunked(archive, 100))) {
    entries.push(entry);
    data.push(TEXT.decode(await entry.bytes()));
  }
  assert.deepEqual(entries.map((e) => [e.type, e.path, e.linkpath]), [
    ["file", long, ""],
    ["symlink", "s", target],
  ]);
  assert.equal(data[0], "long\n");
  assert.equal(
    String.fromCharCode(entries[0]!.header[156]!),
    "x",
    "the pax header is part of the member",
  );
  assert.ok(entries[0]!.pax?.get("path") === long);
});

Deno.test("TarReader resolves GNU long names ('L') and long link names ('K') (GNU tar --format=gnu)", async () => {
  const long = `${"a".repeat(90)}/${"b".repeat(90)}`;
  const target = "c".repeat(150);
  const archive = await withTempDir(async (dir) => {
    makeTree(dir, { [long]: "gnu\n", "s": { symlink: target } });
    return (await runTar(["--format=gnu", "-C", dir, "-cf", "-", long, "s"])).stdout;
  });
  const entries: [string, string, string, number, string][] = [];
  for await (const entry of new TarReader(chunked(archive, 512))) {
    entries.push([
      entry.type,
      entry.path,
      entry.linkpath,
      entry.header.length,
      TEXT.decode(await entry.bytes()),
    ]);
  }
  assert.deepEqual(entries, [
    ["file", long, "", 3 * 512, "gnu\n"],
    ["symlink", "s", target, 3 * 512, ""],
  ]);
});

Deno.test("TarReader joins the ustar prefix and name (GNU tar --format=ustar)", async () => {
  const long = `${"p".repeat(80)}/${"q".repeat(40)}/name.txt`;
  const archive = await withTempDir(async (dir) => {
    makeTree(dir, { [long]: "ustar\n" });
    return (await runTar(["--format=ustar", "-C", dir, "-cf", "-", long])).stdout;
  });
  const [entry] = await readAll(chunked(archive));
  assert.equal(entry?.path, long);
  assert.equal(entry?.data, "ustar\n");
});

Deno.test("TarReader ignores the prefix field of old GNU headers, which hold times there", async () => {
  const archive = concatBytes(
    tarMember({
      name: "plain",
      format: "gnu",
      raw: { 345: new TextEncoder().encode("17000000000") },
      data: "1",
    }),
    endOfArchive(),
  );
  assert.equal((await readAll(chunked(archive)))[0]?.path, "plain");
});

Deno.test("TarReader applies pax overrides of path, linkpath, size, uid, gid and mtime", async () => {
  const archive = concatBytes(
    paxMember([["path", "pax/name"], ["size", "3"], ["uid", "123456789"], ["gid", "42"], [
      "mtime",
      "1.5",
    ]]),
    tarMember({ name: "short", size: 999, data: "abc" }),
    paxMember([["linkpath", "pax/target"]]),
    tarHeader({ name: "s", typeflag: "2", linkname: "short-target" }),
    endOfArchive(),
  );
  const seen: unknown[] = [];
  for await (const e of new TarReader(chunked(archive, 300))) {
    seen.push([e.path, e.linkpath, e.size, e.uid, e.gid, e.mtime, TEXT.decode(await e.bytes())]);
  }
  assert.deepEqual(seen, [
    ["pax/name", "", 3, 123456789, 42, 1.5, "abc"],
    ["s", "pax/target", 0, 0, 0, 1_700_000_000, ""],
  ]);
});

Deno.test("TarReader yields a global header as an entry and applies its records to later members", async () => {
  const archive = concatBytes(
    paxMember([["uid", "7"], ["comment", "made by hand"]], "g"),
    tarMember({ name: "a", data: "1" }),
    paxMember([["uid", "8"]]),
    tarMember({ name: "b", data: "2" }),
    tarMember({ name: "c", data: "3" }),
    endOfArchive(),
  );
  const seen: unknown[] = [];
  for await (const e of new TarReader(chunked(archive))) {
    seen.push([e.type, e.path, e.uid, e.pax?.get("comment")]);
  }
  assert.deepEqual(seen, [
    ["global", "./PaxHeaders/member", 0, "made by hand"],
    ["file", "a", 7, undefined],
    ["file", "b", 8, undefined],
    ["file", "c", 7, undefined],
  ]);
});

Deno.test("TarReader reads 'X' extended headers as pax records, as GNU tar does", async () => {
  const archive = concatBytes(
    paxMember([["path", "solaris"]], "X"),
    tarMember({ name: "a", data: "1" }),
    endOfArchive(),
  );
  assert.equal((await readAll(chunked(archive)))[0]?.path, "solaris");
});

Deno.test("TarReader takes GNU.sparse.name over path, whichever comes first, as GNU tar does", async () => {
  const archive = concatBytes(
    paxMember([["GNU.sparse.name", "real"], ["path", "decoy"]]),
    tarMember({ name: "a", data: "1" }),
    paxMember([["path", "decoy"], ["GNU.sparse.name", "real2"]]),
    tarMember({ name: "b", data: "2" }),
    endOfArchive(),
  );
  assert.deepEqual((await readAll(chunked(archive))).map((e) => e.path), ["real", "real2"]);
});

Deno.test("TarReader reads base-256 numeric fields, negative ones included", async () => {
  const archive = concatBytes(
    tarMember({
      name: "binary",
      data: "hello",
      raw: { 124: base256(5, 12), 108: base256(3_000_000_000, 8), 136: base256(-86400, 12) },
    }),
    endOfArchive(),
  );
  for await (const e of new TarReader(chunked(archive))) {
    assert.deepEqual([e.size, e.uid, e.mtime, TEXT.decode(await e.bytes())], [
      5,
      3_000_000_000,
      -86400,
      "hello",
    ]);
  }
  // GNU tar agrees on where the data ends.
  const listed = await runTar(["--numeric-owner", "-tvf", "-"], { stdin: archive });
  assert.match(TEXT.decode(listed.stdout), /3000000000\/0 +5 1969-12-31 00:00 binary/);
});

Deno.test("TarReader takes a regular file whose name ends in '/' for a directory, as GNU tar extracts it", async () => {
  const archive = concatBytes(
    tarHeader({ name: "d/", typeflag: "0" }),
    tarMember({ name: "d/f", data: "1" }),
    endOfArchive(),
  );
  assert.deepEqual((await readAll(chunked(archive))).map((e) => [e.type, e.path]), [["dir", "d/"], [
    "file",
    "d/f",
  ]]);
});

Deno.test("TarReader refuses a header-only member that claims data, where tar programs disagree on what follows", async () => {
  // GNU tar extracting reads the "data" as the next header; listing skips it.
  const smuggled = tarMember({ name: "evil", data: "x" });
  for (
    const [typeflag, name, word] of [
      ["5", "d", "a directory"],
      ["1", "h", "a hardlink"],
      ["2", "s", "a symlink"],
      ["3", "c", "a character device"],
      ["0", "d/", "a directory"],
    ]
  ) {
    const archive = concatBytes(
      tarHeader({ name: name!, typeflag, size: smuggled.length }),
      smuggled,
      endOfArchive(),
    );
    const error = await readError(chunked(archive));
    assert.match(
      error.message,
      new RegExp(`member "${name}" at byte 0 is ${word} that claims 1024 bytes of data`),
    );
  }
  const pax = concatBytes(
    paxMember([["size", "1024"]]),
    tarHeader({ name: "d", typeflag: "5" }),
    smuggled,
    endOfArchive(),
  );
  assert.match(
    (await readError(chunked(pax))).message,
    /member "d" at byte 1024 is a directory that claims 1024/,
  );
});

Deno.test("TarReader refuses a second long name or extended header for one member, which GNU tar would half ignore", async () => {
  const member = tarMember({ name: "a", data: "1" });
  for (
    const [first, second] of [
      [gnuLong("L", "one"), gnuLong("L", "two")],
      [gnuLong("K", "one"), gnuLong("K", "two")],
      [paxMember([["path", "one"]]), paxMember([["uid", "1"]])],
      [paxMember([["path", "one"]]), paxMember([["uid", "1"]], "X")],
    ]
  ) {
    const error = await readError(chunked(concatBytes(first!, second!, member, endOfArchive())));
    assert.match(
      error.message,
      /a second (long name|long link name|extended header) for one member at byte 1024/,
    );
  }
  const global = concatBytes(
    gnuLong("L", "one"),
    paxMember([["comment", "x"]], "g"),
    member,
    endOfArchive(),
  );
  assert.match(
    (await readError(chunked(global))).message,
    /a global header at byte 1024 between the long name at byte 0/,
  );
});

Deno.test("TarReader passes old GNU sparse members through whole, sparse map extension blocks included", async () => {
  const archive = await withTempDir(async (dir) => {
    const file = Deno.openSync(`${dir}/sparse`, { write: true, create: true });
    for (let i = 0; i < 30; i++) {
      file.seekSync(i * 65536, Deno.SeekMode.Start);
      file.writeSync(new TextEncoder().encode("x".repeat(100)));
    }
    file.truncateSync(30 * 65536);
    file.close();
    makeTree(dir, { next: "after\n" });
    const args = [
      "--format=gnu",
      "--sparse",
      "--hole-detection=raw",
      "-C",
      dir,
      "-cf",
      "-",
      "sparse",
      "next",
    ];
    return (await runTar(args)).stdout;
  });
  const parts: Uint8Array[] = [];
  const seen: unknown[] = [];
  for await (const e of new TarReader(chunked(archive, 1000))) {
    seen.push([e.type, e.path, e.header.length]);
    parts.push(e.header.slice());
    for await (const piece of e.stored()) parts.push(piece.slice());
  }
  assert.deepEqual(seen, [["sparse", "sparse", 3 * 512], ["file", "next", 512]]);
  const copy = concatBytes(...parts);
  assert.deepEqual(copy, archive.subarray(0, copy.length));
});

Deno.test("TarReader reads the data on request, skips what was not read, and refuses data once it has moved on", async () => {
  const archive = concatBytes(
    tarMember({ name: "a", data: "A".repeat(700) }),
    tarMember({ name: "b", data: "B".repeat(10) }),
    tarMember({ name: "c", data: "C" }),
    endOfArchive(),
  );
  const reader = new TarReader(chunked(archive, 100));
  const a = (await reader.next())!;
  const first = await a.data()[Symbol.asyncIterator]().next();
  assert.equal(first.value.length, 88, "the rest of the chunk the header ended in");
  const b = (await reader.next())!;
  assert.equal(b.path, "b");
  await assert.rejects(() => a.bytes(), /asked for after the reader moved on/);
  await b.skip();
  const c = (await reader.next())!;
  assert.equal(TEXT.decode(await c.bytes()), "C");
  assert.equal(await reader.next(), undefined);
  assert.equal(await reader.next(), undefined);
});

Deno.test("TarReader refuses empty input", async () => {
  const error = await readError(chunked(new Uint8Array(0)));
  assert.equal(error.message, "the input is empty: not a tar archive");
});

Deno.test("TarReader refuses what is not a tar archive, and says when it looks compressed", async () => {
  const text = new TextEncoder().encode("#!/bin/sh\necho this is a shell script\n".repeat(40));
  assert.equal(
    (await readError(chunked(text))).message,
    "not a tar archive, or corrupt: header checksum mismatch at byte 0",
  );
  const gzip = concatBytes(new Uint8Array([0x1f, 0x8b, 8, 0]), new Uint8Array(1020).fill(7));
  assert.match(
    (await readError(chunked(gzip))).message,
    /mismatch at byte 0 \(it looks gzip-compressed\)/,
  );
  assert.match(
    (await readError(chunked(text.subarray(0, 100)))).message,
    /not a tar archive: the input is only 100 bytes/,
  );
});

Deno.test("TarReader refuses a header whose checksum does not match, naming its offset", async () => {
  const archive = concatBytes(
    tarMember({ name: "good", data: "x".repeat(600) }),
    tarMember({ name: "bad", data: "y", badChecksum: true }),
    endOfArchive(),
  );
  const error = await readError(chunked(archive));
  assert.equal(
    error.message,
    "not a tar archive, or corrupt: header checksum mismatch at byte 1536",
  );
  assert.equal(error.offset, 1536);
  // GNU tar's own archives pass, as they are; one flipped bit in a name does not.
  const real = await gnuArchive("gnu");
  real[600] = real[600]! ^ 1;
  await readAll(chunked(await gnuArchive("gnu")));
  assert.match((await readError(chunked(real))).message, /header checksum mismatch at byte 512/);
});

Deno.test("TarReader refuses an archive cut inside a header, naming where it ends", async () => {
  const archive = concatBytes(
    tarMember({ name: "one", data: "1" }),
    tarMember({ name: "two", data: "2" }),
    endOfArchive(),
  );
  const error = await readError(chunked(archive.subarray(0, 1024 + 100)));
  assert.equal(
    error.message,
    "the archive ends inside a header at byte 1124: it is truncated or corrupt",
  );
});

Deno.test("TarReader refuses an archive cut inside a member's data or padding, naming the member", async () => {
  const archive = concatBytes(
    tarMember({ name: "one", data: "1" }),
    tarMember({ name: "dir/two", data: "2".repeat(1000) }),
    endOfArchive(),
  );
  for (
    const [cut, chunk] of [[1024 + 512 + 300, 65536], [1024 + 512 + 1010, 64], [
      1024 + 512 + 1000,
      1,
    ]]
  ) {
    const error = await readError(chunked(archive.subarray(0, cut), chunk));
    assert.equal(
      error.message,
      `the archive ends inside member "dir/two" at byte ${cut}: it is truncated or corrupt`,
    );
    assert.equal(error.offset, cut);
  }
  // Skipping the data, rather than reading it, finds the cut as well.
  const reader = new TarReader(chunked(archive.subarray(0, 1800)));
  await reader.next();
  await reader.next();
  await assert.rejects(() => reader.next(), /ends inside member "dir\/two" at byte 1800/);
});

Deno.test("TarReader refuses an archive cut inside a long name or an extended header", async () => {
  const archive = concatBytes(
    gnuLong("L", "l".repeat(600)),
    tarMember({ name: "x", data: "1" }),
    endOfArchive(),
  );
  const error = await readError(chunked(archive.subarray(0, 800)));
  assert.equal(
    error.message,
    "the archive ends inside a long name at byte 800: it is truncated or corrupt",
  );
  const pax = concatBytes(paxMember([["path", "p"]]), endOfArchive());
  assert.match(
    (await readError(chunked(pax))).message,
    /the extended header at byte 0 is followed by the end of the archive, not by a member/,
  );
});

Deno.test("TarReader refuses malformed pax records and numbers", async () => {
  const member = tarMember({ name: "a", data: "1" });
  const bad = (records: string) =>
    concatBytes(tarMember({ name: "p", typeflag: "x", data: records }), member, endOfArchive());
  assert.match(
    (await readError(chunked(bad("99 path=a\n")))).message,
    /a record longer than the header in the extended header at byte 0/,
  );
  assert.match(
    (await readError(chunked(bad("8 path=a\n")))).message,
    /a record whose length is wrong/,
  );
  assert.match((await readError(chunked(bad("path=a\n")))).message, /a record without a length/);
  assert.match((await readError(chunked(bad("9 pathxa\n")))).message, /a record without a key/);
  assert.match(
    (await readError(chunked(bad("11 size=-1\n")))).message,
    /size="-1" in the extended header/,
  );
  const blankSize = concatBytes(
    tarHeader({ name: "a", raw: { 124: new Uint8Array(12) } }),
    endOfArchive(),
  );
  assert.match(
    (await readError(chunked(blankSize))).message,
    /a bad size field in the header at byte 0/,
  );
  const junkSize = concatBytes(
    tarHeader({ name: "a", raw: { 124: new TextEncoder().encode("0000000001x\0") } }),
    endOfArchive(),
  );
  assert.match((await readError(chunked(junkSize))).message, /a bad size field/);
});

Deno.test("TarReader ends at a lone zero block, at the end of the input, or at a cut inside the end blocks", async () => {
  const member = tarMember({ name: "a", data: "1" });
  for (
    const archive of [
      member,
      concatBytes(member, new Uint8Array(512)),
      concatBytes(member, new Uint8Array(100)),
      concatBytes(member, new Uint8Array(10240)),
    ]
  ) {
    assert.deepEqual((await readAll(chunked(archive))).map((e) => e.path), ["a"]);
  }
  assert.deepEqual(await readAll(chunked(new Uint8Array(10240))), []);
});

Deno.test("TarReader reads to the end of the input after the end-of-archive block, ignoring what follows", async () => {
  const archive = concatBytes(
    tarMember({ name: "a", data: "1" }),
    endOfArchive(),
    new Uint8Array(5000).fill(0x41),
  );
  const reader = new TarReader(chunked(archive, 512));
  assert.equal((await reader.next())?.path, "a");
  assert.equal(await reader.next(), undefined);
  assert.equal(reader.offset, archive.length);
});

Deno.test("TarReader cancels its input when the archive is bad", async () => {
  let cancelled: unknown;
  const bytes = concatBytes(tarMember({ name: "a", data: "1", badChecksum: true }), endOfArchive());
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  await assert.rejects(() => readAll(stream), ArchiveError);
  assert.ok(cancelled instanceof ArchiveError);
});

Deno.test("TarReader with keepInputOnError leaves a bad archive's stream to its owner to drain", async () => {
  let cancelled = false;
  const bytes = concatBytes(tarMember({ name: "a", data: "1", badChecksum: true }), endOfArchive());
  const rest = new Uint8Array([1, 2, 3]);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.enqueue(rest);
      controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  const reader = new TarReader(stream, { keepInputOnError: true });
  await assert.rejects(() => reader.next(), ArchiveError);
  assert.equal(cancelled, false);
  const owner = stream.getReader();
  assert.deepEqual((await owner.read()).value, rest);
  assert.equal((await owner.read()).done, true);
});
