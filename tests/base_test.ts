/**
 * Integration tests for bases: `nsbuild base pull`, `run --base`, `base ls`,
 * `cache ls` and `cache prune`, run as an unprivileged user with
 * subordinate ids. Each test has its own store ($NSBUILD_HOME in a temp
 * dir), emptied at the end with `nsbuild cache prune --all` (the user cannot
 * delete subordinate-owned files directly) and then removed. Archives are
 * small and made here: GNU tar of a busybox root, or crafted headers for
 * what GNU tar will not write. All are ignored, with the reason printed
 * once, as root or where user namespaces are refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BUSYBOX, pollUntil, skipReason, sleep } from "./helpers/rootfs.ts";
import { descendants, isAlive } from "./helpers/proc.ts";
import { describeOutcome, Nsbuild, type Outcome } from "./helpers/fault.ts";
import {
  concatBytes,
  endOfArchive,
  membersOf,
  runTar,
  tarMember,
} from "../src/base/tar_testing.ts";

const reason = await skipReason();
const ignore = !!reason;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

// ---------------------------------------------------------------------------
// Running nsbuild against one store

type Result = Outcome;
const show = describeOutcome;

function assertStatus(r: Result, code: number): void {
  assert.equal(r.code, code, `expected status ${code}\n${show(r)}`);
}

interface BaseRow {
  digest: string;
  path: string;
  refs: string[];
  kind: string;
  bytes: number;
  created: string;
  skippedDevices: number;
}

interface CacheRow {
  kind: string;
  digest: string;
  what: string;
  bytes: number;
  created: string;
  lastUsed: string;
  usedBy: string[];
}

interface Pulled {
  digest: string;
  rootfs: string;
  imported: boolean;
  ref: string;
}

/** A store of its own, and nsbuild commands run against it. */
class Store {
  constructor(readonly home: string) {}

  start(args: string[]): Nsbuild {
    return new Nsbuild(args, this.home);
  }

  run(args: string[]): Promise<Result> {
    return this.start(args).result;
  }

  /** `base pull --json REF`, which must succeed. */
  async pull(ref: string): Promise<Pulled> {
    const r = await this.run(["base", "pull", "--json", ref]);
    assertStatus(r, 0);
    return JSON.parse(r.stdout) as Pulled;
  }

  async bases(): Promise<BaseRow[]> {
    const r = await this.run(["base", "ls", "--json"]);
    assertStatus(r, 0);
    return JSON.parse(r.stdout) as BaseRow[];
  }

  async cache(): Promise<{ entries: CacheRow[]; abandonedTemporaries: string[] }> {
    const r = await this.run(["cache", "ls", "--json"]);
    assertStatus(r, 0);
    return JSON.parse(r.stdout);
  }

  /** The names in one of the store's directories (none when it does not exist). */
  list(sub: string): string[] {
    try {
      return [...Deno.readDirSync(join(this.home, sub))].map((e) => e.name).sort();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  }
}

/**
 * Runs fn with a fresh store, then empties it with `cache prune --all` and
 * removes it; a store that cannot be removed afterwards fails the test.
 */
async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "nsbuild-test-base-home-" });
  const store = new Store(home);
  let failure: unknown;
  try {
    await fn(store);
  } catch (e) {
    failure = e;
  }
  const pruned = await store.run(["cache", "prune", "--all", "--json"]).catch((e) => e);
  let removal: unknown;
  try {
    await Deno.remove(home, { recursive: true });
  } catch (e) {
    removal = e;
  }
  if (failure !== undefined) throw failure;
  if (removal !== undefined) {
    throw new Error(
      `the store ${home} could not be removed after \`cache prune --all\`: ${removal}\n` +
        (pruned instanceof Error ? pruned.message : show(pruned)),
    );
  }
}

/** A scratch directory of the user's own for fn, removed afterwards. */
async function withScratch(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nsbuild-test-base-scratch-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// Archives

const APPLETS = ["sh", "cat", "stat", "ls", "id", "test", "true"];

/** A small busybox root: bin/busybox and a few applets, etc/, tmp/, and etc/marker. */
function makeRootfs(dir: string, marker: string): void {
  for (const sub of ["bin", "etc", "tmp"]) Deno.mkdirSync(join(dir, sub), { recursive: true });
  Deno.chmodSync(dir, 0o755);
  Deno.chmodSync(join(dir, "tmp"), 0o1777);
  Deno.copyFileSync(BUSYBOX, join(dir, "bin", "busybox"));
  Deno.chmodSync(join(dir, "bin", "busybox"), 0o755);
  for (const applet of APPLETS) Deno.symlinkSync("busybox", join(dir, "bin", applet));
  Deno.writeTextFileSync(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  Deno.writeTextFileSync(join(dir, "etc", "group"), "root:x:0:\n");
  Deno.writeTextFileSync(join(dir, "etc", "marker"), `${marker}\n`);
}

/** GNU tar's archive of dir, every member owned by root (0:0) by number. */
async function tarOfRoot(dir: string): Promise<Uint8Array> {
  const args = ["--sort=name", "--mtime=@1700000000", "--numeric-owner", "--owner=0", "--group=0"];
  return (await runTar([...args, "-C", dir, "-cf", "-", "."])).stdout;
}

/** A small rootfs with etc/marker = marker, as a plain tar archive's bytes. */
async function rootArchive(scratch: string, marker: string): Promise<Uint8Array> {
  const dir = join(scratch, `root-${crypto.randomUUID()}`);
  makeRootfs(dir, marker);
  return await tarOfRoot(dir);
}

/** The members of several archives, one after another, ended once. */
async function joinArchives(...archives: Uint8Array[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (const archive of archives) parts.push(await membersOf(archive));
  return concatBytes(...parts, endOfArchive());
}

async function compress(program: string, args: string[], input: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(program, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const [out] = await Promise.all([
    child.output(),
    writer.write(input).then(() => writer.close()),
  ]);
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

const COMPRESSORS = {
  plain: null,
  gzip: ["gzip", "-c"],
  xz: ["xz", "-c"],
  zstd: ["zstd", "-q", "-c"],
  bzip2: ["bzip2", "-c"],
} as const;

type Compression = keyof typeof COMPRESSORS;

async function compressed(kind: Compression, tar: Uint8Array): Promise<Uint8Array> {
  const how = COMPRESSORS[kind];
  return how ? await compress(how[0], [...how.slice(1)], tar) : tar;
}

function sh(script: string): string[] {
  return ["/bin/sh", "-c", script];
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

/**
 * The error is one line naming the reference (plus nsbuild's hint line),
 * with no stack trace.
 */
function assertOneLineError(r: Result, ref: string): string {
  assert.ok(!r.stderr.includes("    at "), `a stack trace on stderr\n${show(r)}`);
  const errorLines = lines(r.stderr).filter((l) => !l.startsWith("  hint: "));
  assert.equal(errorLines.length, 1, `expected one line of error\n${show(r)}`);
  const line = errorLines[0]!;
  assert.ok(line.startsWith(`nsbuild: ${ref}: `), `the error does not name ${ref}\n${show(r)}`);
  return line;
}

/** Nothing complete is left: no base, no cache entry, no reference. */
async function assertNoBase(store: Store): Promise<void> {
  assert.deepEqual(await store.bases(), []);
  assert.deepEqual((await store.cache()).entries, []);
  assert.deepEqual(store.list("refs"), []);
}

/** The first range for this user in /etc/subuid or /etc/subgid, by name or by uid. */
function subordinateStart(file: string, uid: number): number | undefined {
  const passwd = Deno.readTextFileSync("/etc/passwd");
  const user = passwd.split("\n").map((l) => l.split(":")).find((f) => f[2] === String(uid))?.[0];
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if ((owner === user || owner === String(uid)) && Number(count) > 0) return Number(start);
  }
  return undefined;
}

/** A root archive plus home/ and home/owned (GNU tar, owned 1000:1000) and srv/fakedev (a crafted char device). */
async function ownedArchive(scratch: string): Promise<Uint8Array> {
  const root = await rootArchive(scratch, "owned");
  const extra = join(scratch, "extra");
  Deno.mkdirSync(join(extra, "home"), { recursive: true });
  Deno.writeTextFileSync(join(extra, "home", "owned"), "mine\n");
  const owned = (await runTar([
    "--numeric-owner",
    "--owner=1000",
    "--group=1000",
    "--mtime=@1700000000",
    "-C",
    extra,
    "-cf",
    "-",
    "home",
  ])).stdout;
  const device = concatBytes(
    tarMember({ name: "srv/", typeflag: "5", mode: 0o755 }),
    tarMember({ name: "srv/fakedev", typeflag: "3", mode: 0o666, devmajor: 1, devminor: 3 }),
    endOfArchive(),
  );
  return await joinArchives(root, owned, device);
}

// ---------------------------------------------------------------------------
// 1. Every kind of source, and the cache hit

for (const kind of ["dir", ...Object.keys(COMPRESSORS)] as ("dir" | Compression)[]) {
  const label = kind === "dir" ? "dir:" : `tar: (${kind})`;
  test(`a base from ${label} runs a command, and resolving it again is a cache hit`, async () => {
    await withScratch((scratch) =>
      withStore(async (store) => {
        const marker = `from-${kind}-${crypto.randomUUID()}`;
        let ref: string;
        if (kind === "dir") {
          const dir = join(scratch, "rootfs");
          makeRootfs(dir, marker);
          ref = `dir:${dir}`;
        } else {
          // No suffix: the kind of compression is told by magic, not by name.
          const path = join(scratch, "base.archive");
          Deno.writeFileSync(path, await compressed(kind, await rootArchive(scratch, marker)));
          ref = `tar:${path}`;
        }
        const first = await store.run([
          "run",
          "--base",
          ref,
          "--",
          ...sh("cat /etc/marker; id -u"),
        ]);
        assertStatus(first, 0);
        assert.equal(first.stdout, `${marker}\n0\n`);
        const [base] = await store.bases();
        assert.ok(base, "run --base left no base in the store");
        assert.deepEqual(base.refs, [ref]);

        const again = await store.run(["run", "--base", ref, "--", "/bin/cat", "/etc/marker"]);
        assertStatus(again, 0);
        assert.equal(again.stdout, `${marker}\n`);
        const pulled = await store.pull(ref);
        assert.equal(pulled.imported, false, "the third resolve imported the base again");
        assert.equal(pulled.digest, base.digest);
        assert.equal(pulled.ref, ref);

        const after = await store.bases();
        assert.deepEqual(after.map((b) => [b.digest, b.created]), [[base.digest, base.created]]);
        assert.equal((await store.cache()).entries.length, 1);
        assert.deepEqual(store.list("tmp"), []);
      })
    );
  });
}

test("one archive plain, gzip, xz, zstd and bzip2 imports to one entry with five references", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      const tar = await rootArchive(scratch, "same");
      const refs: string[] = [];
      const digests = new Set<string>();
      for (const kind of Object.keys(COMPRESSORS) as Compression[]) {
        const path = join(scratch, `base-${kind}`);
        Deno.writeFileSync(path, await compressed(kind, tar));
        refs.push(`tar:${path}`);
        const pulled = await store.pull(`tar:${path}`);
        assert.equal(pulled.imported, true, `${kind}: a new reference is imported`);
        digests.add(pulled.digest);
      }
      assert.equal(digests.size, 1, `the digests differ: ${[...digests].join(", ")}`);
      const bases = await store.bases();
      assert.equal(bases.length, 1);
      assert.deepEqual(bases[0]!.refs.sort(), refs.sort());
      const { entries } = await store.cache();
      assert.equal(entries.length, 1);
      assert.deepEqual(entries[0]!.usedBy.sort(), refs.map((r) => `ref ${r}`).sort());
    })
  );
});

// ---------------------------------------------------------------------------
// 2. Ownership, and device nodes

test("a file owned 1000:1000 in the archive is 1000:1000 inside; a device node is skipped and counted", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      const path = join(scratch, "owned.tar");
      Deno.writeFileSync(path, await ownedArchive(scratch));
      const ref = `tar:${path}`;
      const pulled = await store.run(["base", "pull", ref]);
      assertStatus(pulled, 0);
      assert.match(pulled.stderr, /\b1 device nodes skipped\b/, show(pulled));

      const [base] = await store.bases();
      assert.equal(base?.skippedDevices, 1);
      const r = await store.run([
        "run",
        "--base",
        ref,
        "--",
        ...sh(
          "stat -c %u:%g /home /home/owned /etc/marker; cat /home/owned; " +
            "if [ -e /srv/fakedev ]; then echo fakedev present; else echo fakedev absent; fi",
        ),
      ]);
      assertStatus(r, 0);
      assert.deepEqual(lines(r.stdout), [
        "1000:1000",
        "1000:1000",
        "0:0",
        "mine",
        "fakedev absent",
      ]);
    })
  );
});

// ---------------------------------------------------------------------------
// 3. Hostile archives

interface Hostile {
  what: string;
  /** The archive, given the victim directory on the host. */
  archive: (victim: string) => Uint8Array;
  /** The member the error must name. */
  member: (victim: string) => string;
}

const UP = "../".repeat(12);

/** A harmless member first, so that something was unpacked before the refusal. */
function hostile(...members: Uint8Array[]): Uint8Array {
  return concatBytes(
    tarMember({ name: "etc/", typeflag: "5", mode: 0o755 }),
    tarMember({ name: "etc/ok", data: "harmless\n" }),
    ...members,
    endOfArchive(),
  );
}

const HOSTILE: Hostile[] = [
  {
    what: "an absolute member",
    archive: (v) => hostile(tarMember({ name: `${v}/abs`, data: "pwned\n" })),
    member: (v) => `${v}/abs`,
  },
  {
    what: "a ../ member",
    archive: (v) => hostile(tarMember({ name: `${UP}${v.slice(1)}/dotdot`, data: "pwned\n" })),
    member: (v) => `${UP}${v.slice(1)}/dotdot`,
  },
  {
    what: "a write through a symlink to an absolute directory",
    archive: (v) =>
      hostile(
        tarMember({ name: "evil", typeflag: "2", linkname: v }),
        tarMember({ name: "evil/x", data: "pwned\n" }),
      ),
    member: () => "evil/x",
  },
  {
    what: "a write through a symlink to ../..",
    archive: () =>
      hostile(
        tarMember({ name: "up", typeflag: "2", linkname: "../.." }),
        tarMember({ name: "up/x", data: "pwned\n" }),
      ),
    member: () => "up/x",
  },
  {
    what: "a hardlink to a host file by absolute path",
    archive: (v) =>
      hostile(
        tarMember({ name: "grab", typeflag: "1", linkname: `${v}/hostfile` }),
        tarMember({ name: "grab", data: "pwned\n" }),
      ),
    member: () => "grab",
  },
  {
    what: "a hardlink to a host file through ../",
    archive: (v) =>
      hostile(
        tarMember({ name: "grab", typeflag: "1", linkname: `${UP}${v.slice(1)}/hostfile` }),
        tarMember({ name: "grab", data: "pwned\n" }),
      ),
    member: () => "grab",
  },
];

for (const h of HOSTILE) {
  test(`an archive with ${h.what} is refused naming the member, and leaves nothing`, async () => {
    await withScratch((scratch) =>
      withStore(async (store) => {
        const victim = join(scratch, "victim");
        Deno.mkdirSync(victim);
        const hostFile = join(victim, "hostfile");
        Deno.writeTextFileSync(hostFile, "precious\n");
        const path = join(scratch, "hostile.tar");
        Deno.writeFileSync(path, h.archive(victim));
        const ref = `tar:${path}`;

        const r = await store.run(["base", "pull", "--json", ref]);
        assertStatus(r, 1);
        const line = assertOneLineError(r, ref);
        assert.ok(
          line.includes(`member ${JSON.stringify(h.member(victim))}`),
          `the error does not name the member ${h.member(victim)}\n${show(r)}`,
        );

        assert.deepEqual([...Deno.readDirSync(victim)].map((e) => e.name), ["hostfile"]);
        assert.equal(Deno.readTextFileSync(hostFile), "precious\n");
        assert.equal(Deno.statSync(hostFile).nlink, 1, "a hard link to the host file was made");
        await assertNoBase(store);
        assert.deepEqual((await store.cache()).abandonedTemporaries, []);

        const pruned = await store.run(["cache", "prune"]);
        assertStatus(pruned, 0);
        assert.deepEqual(store.list("tmp"), []);
        assert.deepEqual(store.list("runs"), []);
      })
    );
  });
}

// ---------------------------------------------------------------------------
// 4. Truncated and corrupt archives

/** Damage done to a compressed (or plain) archive, and what the error says of it. */
const DAMAGED: {
  what: string;
  kind: Compression;
  damage: (bytes: Uint8Array) => Uint8Array;
  says: RegExp;
}[] = [
  {
    what: "a tar archive cut in the middle of a member",
    kind: "plain",
    damage: halve,
    says: /the archive ends inside member "\.\/bin\/busybox" at byte \d+: it is truncated/,
  },
  {
    what: "a zstd archive cut in the middle",
    kind: "zstd",
    damage: halve,
    says: /zstd could not decompress it: .+/,
  },
  {
    what: "an xz archive with garbage in the middle",
    kind: "xz",
    damage: garble,
    says: /xz could not decompress it: .+/,
  },
  {
    // zstd writes all it decoded, then finds the checksum wrong: its message, not the short tar stream's.
    what: "a zstd archive with garbage in the middle",
    kind: "zstd",
    damage: garble,
    says: /zstd could not decompress it: .+/,
  },
  {
    what: "a gzip archive with garbage in the middle",
    kind: "gzip",
    damage: garble,
    says: /gzip could not decompress it: .+/,
  },
];

function halve(bytes: Uint8Array): Uint8Array {
  return bytes.slice(0, Math.floor(bytes.length / 2));
}

/** 256 bytes of garbage (the same every run) written over the middle. */
function garble(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const garbage = Uint8Array.from({ length: 256 }, (_, i) => (i * 151 + 17) & 0xff);
  out.set(garbage, Math.floor(out.length / 2));
  return out;
}

for (const d of DAMAGED) {
  test(`${d.what} fails with a one-line error and leaves no complete entry`, async () => {
    await withScratch((scratch) =>
      withStore(async (store) => {
        const tar = await rootArchive(scratch, "damaged");
        const path = join(scratch, "damaged.archive");
        Deno.writeFileSync(path, d.damage(await compressed(d.kind, tar)));
        const ref = `tar:${path}`;
        const r = await store.run(["base", "pull", "--json", ref]);
        assertStatus(r, 1);
        const line = assertOneLineError(r, ref);
        assert.match(line, d.says, show(r));
        await assertNoBase(store);
        assert.deepEqual(store.list("tmp"), []);
      })
    );
  });
}

// ---------------------------------------------------------------------------
// 5. Two imports at once

test("two base pulls of one reference at once both succeed, import once, and leave one entry", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      // Some bulk, so that the second is likely to start while the first imports.
      const bulk = join(scratch, "bulk");
      Deno.mkdirSync(join(bulk, "data"), { recursive: true });
      for (let i = 0; i < 16; i++) {
        Deno.writeFileSync(join(bulk, "data", `f${i}`), randomBytes(1 << 20));
      }
      const path = join(scratch, "both.tar.zst");
      const tar = await joinArchives(await rootArchive(scratch, "both"), await tarOfRoot(bulk));
      Deno.writeFileSync(path, await compressed("zstd", tar));
      const ref = `tar:${path}`;

      const a = store.start(["base", "pull", "--json", ref]);
      const b = store.start(["base", "pull", "--json", ref]);
      const results = await Promise.all([a.result, b.result]);
      for (const r of results) assertStatus(r, 0);
      const pulled = results.map((r) => JSON.parse(r.stdout) as Pulled);
      assert.equal(pulled[0]!.digest, pulled[1]!.digest);
      assert.deepEqual(pulled.map((p) => p.imported).sort(), [false, true]);
      const bases = await store.bases();
      assert.deepEqual(bases.map((x) => x.digest), [pulled[0]!.digest]);
      assert.equal((await store.cache()).entries.length, 1);
      assert.deepEqual(store.list("tmp"), []);
    })
  );
});

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

// ---------------------------------------------------------------------------
// 6. SIGKILL during an import

test("after SIGKILL during an import the next import succeeds and cache prune removes the remains", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      // 160 MB of random data: long enough to be caught in the middle.
      const bulk = join(scratch, "bulk");
      Deno.mkdirSync(join(bulk, "data"), { recursive: true });
      makeRootfs(bulk, "killed");
      for (let i = 0; i < 160; i++) {
        Deno.writeFileSync(
          join(bulk, "data", `f${String(i).padStart(3, "0")}`),
          randomBytes(1 << 20),
        );
      }
      const path = join(scratch, "big.tar");
      await runTar([
        "--sort=name",
        "--numeric-owner",
        "--owner=0",
        "--group=0",
        "-C",
        bulk,
        "-cf",
        path,
        ".",
      ]);
      await Deno.remove(bulk, { recursive: true });
      const ref = `tar:${path}`;

      const running = store.start(["base", "pull", "--json", ref]);
      let sandboxed: number[] = [];
      try {
        // In the middle: the temporary's rootfs has files, and tar is running.
        const underway = await pollUntil(
          () => {
            if (running.exited) return true;
            const temp = store.list("tmp").find((n) =>
              n.startsWith("base-") && !n.endsWith(".lock")
            );
            if (!temp) return false;
            let unpacked: string[] = [];
            try {
              unpacked = [...Deno.readDirSync(join(store.home, "tmp", temp, "rootfs", "data"))]
                .map((e) => e.name);
            } catch {
              return false;
            }
            return unpacked.length > 0;
          },
          30_000,
          5,
        );
        assert.ok(underway, "the import never got under way");
        sandboxed = descendants(running.pid).map((p) => p.pid);
        running.kill("SIGKILL");
      } catch (e) {
        running.kill("SIGKILL");
        throw e;
      }
      const killed = await running.result;
      assert.equal(
        killed.signal,
        "SIGKILL",
        `the import ended before it could be killed: make the archive bigger\n${show(killed)}`,
      );
      const left = await pollUntil(() => sandboxed.every((pid) => !isAlive(pid)), 10_000);
      assert.ok(left, `processes of the import outlived nsbuild: ${sandboxed.filter(isAlive)}`);
      await assertNoBase(store);
      assert.equal((await store.cache()).abandonedTemporaries.length, 1);

      const pulled = await store.pull(ref);
      assert.equal(pulled.imported, true);
      const r = await store.run(["run", "--base", ref, "--", "/bin/cat", "/etc/marker"]);
      assertStatus(r, 0);
      assert.equal(r.stdout, "killed\n");

      const pruned = await store.run(["cache", "prune", "--json"]);
      assertStatus(pruned, 0);
      const report = JSON.parse(pruned.stdout) as { temporaries: string[]; entries: unknown[] };
      assert.equal(report.temporaries.length, 1, show(pruned));
      assert.deepEqual(report.entries, [], "prune removed the base a reference still uses");
      assert.deepEqual(store.list("tmp"), []);
      assert.deepEqual(store.list("runs"), []);
      assert.deepEqual((await store.bases()).map((b) => b.digest), [pulled.digest]);
    })
  );
});

// ---------------------------------------------------------------------------
// 7. Prune removes what the user cannot

test("cache prune --all as the user removes a base whose files belong to subordinate ids", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      const path = join(scratch, "owned.tar");
      Deno.writeFileSync(path, await ownedArchive(scratch));
      const pulled = await store.pull(`tar:${path}`);
      const subuid = subordinateStart("/etc/subuid", Deno.uid()!);
      const subgid = subordinateStart("/etc/subgid", Deno.uid()!);
      assert.ok(subuid !== undefined && subgid !== undefined, "the user needs subordinate ids");
      // 1000 inside is the 1000th subordinate id (1 inside is the first).
      for (const path of ["home", "home/owned"]) {
        const owned = Deno.lstatSync(join(pulled.rootfs, path));
        assert.deepEqual([owned.uid, owned.gid], [subuid + 999, subgid + 999], path);
      }
      assert.throws(
        () => Deno.removeSync(join(pulled.rootfs, "home", "owned")),
        Deno.errors.PermissionDenied,
      );

      const pruned = await store.run(["cache", "prune", "--all"]);
      assertStatus(pruned, 0);
      assert.deepEqual(store.list("bases"), []);
      assert.deepEqual(store.list("refs"), []);
      assert.deepEqual(store.list("tmp"), []);
    })
  );
});

// ---------------------------------------------------------------------------
// 8. Listing and pruning by age

test("cache ls and base ls report the entry's size, age and reference", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      const path = join(scratch, "listed.tar.gz");
      Deno.writeFileSync(path, await compressed("gzip", await rootArchive(scratch, "listed")));
      const ref = `tar:${path}`;
      const before = Date.now();
      const pulled = await store.pull(ref);
      const after = Date.now();

      const bases = await store.bases();
      assert.equal(bases.length, 1);
      const base = bases[0]!;
      assert.equal(base.digest, pulled.digest);
      assert.equal(base.path, pulled.rootfs);
      assert.deepEqual(base.refs, [ref]);
      assert.equal(base.kind, "tar");
      assert.ok(base.bytes > Deno.statSync(BUSYBOX).size, `size ${base.bytes} < busybox`);
      const created = Date.parse(base.created);
      assert.ok(created >= before && created <= after, `created ${base.created} outside the pull`);

      const { entries } = await store.cache();
      assert.equal(entries.length, 1);
      const entry = entries[0]!;
      assert.equal(entry.kind, "base");
      assert.equal(entry.digest, pulled.digest);
      assert.equal(entry.what, ref);
      assert.equal(entry.bytes, base.bytes);
      assert.equal(entry.created, base.created);
      assert.ok(!Number.isNaN(Date.parse(entry.lastUsed)), `last used: ${entry.lastUsed}`);
      assert.deepEqual(entry.usedBy, [`ref ${ref}`]);

      const text = await store.run(["cache", "ls"]);
      assertStatus(text, 0);
      assert.ok(text.stdout.includes(pulled.digest.slice(0, 12)), show(text));
      assert.ok(text.stdout.includes(ref), show(text));
    })
  );
});

test("cache prune --older-than keeps a fresh entry and removes it once older", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      const path = join(scratch, "aging.tar");
      Deno.writeFileSync(path, await rootArchive(scratch, "aging"));
      const pulled = await store.pull(`tar:${path}`);

      const fresh = await store.run(["cache", "prune", "--older-than", "1h", "--json"]);
      assertStatus(fresh, 0);
      assert.deepEqual(JSON.parse(fresh.stdout).entries, []);
      assert.deepEqual((await store.bases()).map((b) => b.digest), [pulled.digest]);

      await sleep(1_500);
      const old = await store.run(["cache", "prune", "--older-than", "1s", "--json"]);
      assertStatus(old, 0);
      const report = JSON.parse(old.stdout) as { entries: { digest: string }[] };
      assert.deepEqual(report.entries.map((e) => e.digest), [pulled.digest]);
      assert.deepEqual(await store.bases(), []);
      assert.deepEqual(store.list("bases"), []);
    })
  );
});

test("cache prune --older-than soon is a usage error with status 2 and removes nothing", async () => {
  await withScratch((scratch) =>
    withStore(async (store) => {
      const path = join(scratch, "kept.tar");
      Deno.writeFileSync(path, await rootArchive(scratch, "kept"));
      const pulled = await store.pull(`tar:${path}`);
      const r = await store.run(["cache", "prune", "--older-than", "soon"]);
      assertStatus(r, 2);
      assert.match(r.stderr, /--older-than needs an age like .*"soon"/);
      assert.ok(!r.stderr.includes("    at "), show(r));
      assert.deepEqual((await store.bases()).map((b) => b.digest), [pulled.digest]);
    })
  );
});
