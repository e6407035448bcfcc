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

Deno.test("createRunDir() makes a fresh directory under runs/ with upper, work and root", async () => {
  const store = await Deno.makeTempDir({ prefix: "nsbuild-store-test-" });
  try {
    const a = createRunDir(store);
    const b = createRunDir(store);
    assert.notEqual(a, b);
    assert.equal(runsDir(store), `${store}/runs`);
    for (const dir of [a, b]) {
      assert.ok(dir.startsWith(`${store}/runs/${Deno.pid}-`), dir);
      const entries = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(entries, ["root", "upper", "work"]);
      for (const sub of entries) assert.ok(Deno.statSync(`${dir}/${sub}`).isDirectory);
    }
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});
