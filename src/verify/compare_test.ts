import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { joinPath as join } from "../util/path.ts";
import { compareTrees, contextLines } from "./compare.ts";

/** Two temp trees, a and b, filled by `fill`, removed afterwards. */
async function withTrees(
  fill: (a: string, b: string) => void,
  check: (a: string, b: string) => Promise<void>,
): Promise<void> {
  const root = Deno.makeTempDirSync({ prefix: "nsbuild-compare-" });
  const a = join(root, "a");
  const b = join(root, "b");
  Deno.mkdirSync(a);
  Deno.mkdirSync(b);
  try {
    fill(a, b);
    await check(a, b);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

function write(dir: string, path: string, content: string | Uint8Array, mode = 0o644): void {
  const full = join(dir, path);
  Deno.mkdirSync(join(full, ".."), { recursive: true });
  if (typeof content === "string") Deno.writeTextFileSync(full, content);
  else Deno.writeFileSync(full, content);
  Deno.chmodSync(full, mode);
}

function both(a: string, b: string, path: string, content: string): void {
  write(a, path, content);
  write(b, path, content);
}

function sha256(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

Deno.test("compareTrees() finds nothing to report in equal trees, and counts files and symlinks", async () => {
  await withTrees((a, b) => {
    both(a, b, "x.txt", "same\n");
    both(a, b, "sub/deeper/y.bin", "\0\x01\x02");
    for (const d of [a, b]) Deno.symlinkSync("../x.txt", join(d, "sub", "link"));
    for (const d of [a, b]) Deno.mkdirSync(join(d, "empty"));
  }, async (a, b) => {
    const c = await compareTrees(a, b);
    assert.deepEqual(c.differences, []);
    assert.equal(c.files, 3);
    assert.equal(c.identical, 3);
  });
});

Deno.test("compareTrees() names a file whose contents differ, with sizes, hashes and the first differing line", async () => {
  await withTrees((a, b) => {
    both(a, b, "same.txt", "same\n");
    write(a, "out/stamp.txt", "built at\n1700000012\nend\n");
    write(b, "out/stamp.txt", "built at\n1700000099\nend\n");
  }, async (a, b) => {
    const c = await compareTrees(a, b);
    assert.equal(c.files, 2);
    assert.equal(c.identical, 1);
    assert.equal(c.differences.length, 1);
    const d = c.differences[0]!;
    assert.equal(d.path, "out/stamp.txt");
    assert.equal(d.kind, "content");
    assert.equal(d.firstDifference, 17);
    assert.equal(d.a?.sha256, sha256("built at\n1700000012\nend\n"));
    assert.equal(d.b?.sha256, sha256("built at\n1700000099\nend\n"));
    assert.match(d.summary, /contents differ \(24 bytes on both sides\) from byte 17/);
    assert.deepEqual(d.account.slice(2), [
      "first difference at byte 17 (line 2):",
      '  a: "1700000012"',
      '  b: "1700000099"',
    ]);
    assert.match(
      d.account[0]!,
      new RegExp(`^a: 24 bytes, sha256 ${sha256("built at\n1700000012\nend\n").slice(0, 16)}`),
    );
  });
});

Deno.test("compareTrees() shows a hex window where a binary file differs, past the first chunk", async () => {
  const size = 200_000;
  const bytesA = new Uint8Array(size);
  const bytesB = new Uint8Array(size);
  bytesB[150_000] = 0xff;
  await withTrees((a, b) => {
    write(a, "blob", bytesA);
    write(b, "blob", bytesB);
  }, async (a, b) => {
    const [d] = (await compareTrees(a, b)).differences;
    assert.equal(d?.firstDifference, 150_000);
    assert.equal(d?.a?.sha256, sha256(bytesA));
    assert.equal(d?.b?.sha256, sha256(bytesB));
    const start = 150_000 - 16;
    assert.equal(
      d?.account[2],
      `first difference at byte 150000; bytes from ${start} (0x${start.toString(16)}):`,
    );
    const hexA = d!.account[3]!.replace(/^ {2}a: /, "").split(" ");
    const hexB = d!.account[4]!.replace(/^ {2}b: /, "").split(" ");
    assert.equal(hexA.length, 48);
    assert.equal(hexA[16], "00");
    assert.equal(hexB[16], "ff");
    assert.deepEqual(hexA.slice(0, 16), hexB.slice(0, 16));
  });
});

Deno.test("compareTrees() reports a file cut short where the shorter one ends", async () => {
  await withTrees((a, b) => {
    write(a, "log", "one\ntwo\n");
    write(b, "log", "one\ntwo\nthree\n");
  }, async (a, b) => {
    const [d] = (await compareTrees(a, b)).differences;
    assert.equal(d?.firstDifference, 8);
    assert.match(d!.summary, /8 bytes in a, 14 in b/);
    assert.deepEqual(d!.account.slice(2), [
      "first difference at byte 8 (line 3):",
      '  a: "" (end of file)',
      '  b: "three"',
    ]);
  });
});

Deno.test("compareTrees() reports entries on one side only, other kinds, modes and symlink targets", async () => {
  await withTrees((a, b) => {
    write(a, "only-a.txt", "a");
    write(b, "only-b/inner.txt", "b");
    write(a, "kind", "a file");
    Deno.mkdirSync(join(b, "kind"));
    both(a, b, "script", "#!/bin/sh\n");
    Deno.chmodSync(join(b, "script"), 0o755);
    Deno.symlinkSync("target-a", join(a, "link"));
    Deno.symlinkSync("target-b", join(b, "link"));
    Deno.mkdirSync(join(a, "dir"), { mode: 0o755 });
    Deno.mkdirSync(join(b, "dir"));
    Deno.chmodSync(join(b, "dir"), 0o700);
  }, async (a, b) => {
    const c = await compareTrees(a, b);
    const byPath = Object.fromEntries(c.differences.map((d) => [d.path, d]));
    assert.deepEqual(Object.keys(byPath), [
      "dir",
      "kind",
      "link",
      "only-a.txt",
      "only-b",
      "script",
    ]);
    assert.equal(byPath["only-a.txt"]!.kind, "only-in-a");
    assert.equal(byPath["only-b"]!.kind, "only-in-b");
    assert.match(byPath["only-b"]!.summary, /only in build b: a directory/);
    assert.equal(byPath["kind"]!.kind, "type");
    assert.equal(byPath["kind"]!.summary, "a file (6 bytes) in a, a directory in b");
    assert.equal(byPath["script"]!.kind, "mode");
    assert.equal(byPath["script"]!.summary, "mode 0644 in a, 0755 in b");
    assert.equal(byPath["link"]!.kind, "target");
    assert.equal(byPath["link"]!.summary, 'symlink to "target-a" in a, to "target-b" in b');
    assert.equal(byPath["dir"]!.summary, "mode 0755 in a, 0700 in b");
    // Files and symlinks: only-a.txt, kind (a file on one side), script, link.
    assert.equal(c.files, 4);
    assert.equal(c.identical, 0);
  });
});

Deno.test("compareTrees() never follows a symlink, even to a directory outside the trees", async () => {
  const outside = Deno.makeTempDirSync({ prefix: "nsbuild-compare-outside-" });
  try {
    Deno.writeTextFileSync(join(outside, "secret"), "not to be read");
    await withTrees((a, b) => {
      Deno.symlinkSync(outside, join(a, "escape"));
      Deno.symlinkSync(outside, join(b, "escape"));
    }, async (a, b) => {
      const c = await compareTrees(a, b);
      assert.deepEqual(c.differences, []);
      assert.equal(c.files, 1);
    });
  } finally {
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test("contextLines() shows the whole differing line of a text file even when it starts before the window", async () => {
  await withTrees((a, b) => {
    const long = "x".repeat(40);
    write(a, "t", `${long}A tail\n`);
    write(b, "t", `${long}B tail\n`);
  }, async (a, b) => {
    const lines = await contextLines(join(a, "t"), join(b, "t"), 40);
    assert.equal(lines[0], "first difference at byte 40 (line 1):");
    assert.equal(lines[1], `  a: …"${"x".repeat(16)}A tail"`);
    assert.equal(lines[2], `  b: …"${"x".repeat(16)}B tail"`);
  });
});

const diffoscope = ["/usr/bin/diffoscope", "/usr/local/bin/diffoscope"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

Deno.test({
  name: "compareTrees() adds diffoscope's report to the account when diffoscope is given",
  ignore: !diffoscope,
  fn: async () => {
    await withTrees((a, b) => {
      write(a, "f.txt", "alpha\nbeta\n");
      write(b, "f.txt", "alpha\ngamma\n");
    }, async (a, b) => {
      const [d] = (await compareTrees(a, b, { diffoscope })).differences;
      const at = d!.account.indexOf("diffoscope:");
      assert.ok(at > 0, `no diffoscope section in ${d!.account.join("\n")}`);
      const report = d!.account.slice(at + 1).join("\n");
      assert.match(report, /^ {2}-beta$/m);
      assert.match(report, /^ {2}\+gamma$/m);
      // The file names are in the summary already, not repeated from diffoscope's header.
      assert.doesNotMatch(report, /^ {2}(?:---|\+\+\+) \//m);
    });
  },
});

Deno.test("compareTrees() without diffoscope gives the plain account only", async () => {
  await withTrees((a, b) => {
    write(a, "f.txt", "alpha\n");
    write(b, "f.txt", "gamma\n");
  }, async (a, b) => {
    const [d] = (await compareTrees(a, b)).differences;
    assert.equal(d!.account.includes("diffoscope:"), false);
    assert.equal(d!.account.length, 5);
  });
});
