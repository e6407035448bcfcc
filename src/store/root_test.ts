import assert from "node:assert/strict";
import { createRunDir, runsDir, storeRoot } from "./root.ts";

Deno.test("storeRoot() prefers $NSBUILD_HOME over everything", () => {
  assert.equal(
    storeRoot({ NSBUILD_HOME: "/data/nsb", XDG_CACHE_HOME: "/xdg", HOME: "/home/a" }),
    "/data/nsb",
  );
});

Deno.test("storeRoot() uses $XDG_CACHE_HOME/nsbuild when $NSBUILD_HOME is unset", () => {
  assert.equal(storeRoot({ XDG_CACHE_HOME: "/xdg", HOME: "/home/a" }), "/xdg/nsbuild");
  assert.equal(storeRoot({ XDG_CACHE_HOME: "/xdg/", HOME: "/home/a" }), "/xdg/nsbuild");
});

Deno.test("storeRoot() falls back to ~/.cache/nsbuild", () => {
  assert.equal(storeRoot({ HOME: "/home/a" }), "/home/a/.cache/nsbuild");
});

Deno.test("storeRoot() treats empty variables as unset", () => {
  assert.equal(
    storeRoot({ NSBUILD_HOME: "", XDG_CACHE_HOME: "", HOME: "/home/a" }),
    "/home/a/.cache/nsbuild",
  );
  assert.equal(storeRoot({ NSBUILD_HOME: "", XDG_CACHE_HOME: "/xdg" }), "/xdg/nsbuild");
});

Deno.test("storeRoot() without NSBUILD_HOME, XDG_CACHE_HOME or HOME says what to set", () => {
  assert.throws(() => storeRoot({}), /set NSBUILD_HOME \(or HOME\)/);
  assert.throws(() => storeRoot({ USER: "a" }), /Cannot place the store/);
});

Deno.test("createRunDir() makes a fresh, empty directory under runs/, named by pid", async () => {
  const store = await Deno.makeTempDir({ prefix: "nsbuild-store-test-" });
  try {
    const a = createRunDir(store);
    const b = createRunDir(store);
    assert.notEqual(a, b);
    assert.equal(runsDir(store), `${store}/runs`);
    for (const dir of [a, b]) {
      assert.ok(dir.startsWith(`${store}/runs/${Deno.pid}-`), dir);
      assert.ok(Deno.statSync(dir).isDirectory);
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    }
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});

Deno.test({
  name: "createRunDir() with an owner gives runs/ and the run directory to it (as root)",
  ignore: Deno.uid() !== 0,
  fn: () => {
    const store = Deno.makeTempDirSync();
    try {
      const dir = createRunDir(store, { uid: 1879048192, gid: 1879048193 });
      for (const path of [dir, `${store}/runs`]) {
        const info = Deno.statSync(path);
        assert.equal(info.uid, 1879048192);
        assert.equal(info.gid, 1879048193);
      }
      assert.equal(Deno.statSync(store).uid, 0, "the store root itself stays root's");
    } finally {
      Deno.removeSync(store, { recursive: true });
    }
  },
});
