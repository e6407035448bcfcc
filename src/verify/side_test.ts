import assert from "node:assert/strict";
import { storeLayout } from "../store/layout.ts";
import { parseSide, sideLayout, sideRecipe } from "./side.ts";

Deno.test("sideLayout() keeps layers, runs, temporaries and build records private, and the inputs shared", () => {
  const store = storeLayout("/home/me/.cache/nsbuild");
  const layout = sideLayout(store, {
    store: "/home/me/.cache/nsbuild/tmp/verify-1/b/store",
    sources: "/home/me/.cache/nsbuild/tmp/verify-1/views/0",
  });
  const priv = "/home/me/.cache/nsbuild/tmp/verify-1/b/store";
  assert.equal(layout.root, priv);
  assert.equal(layout.layers, `${priv}/layers`);
  assert.equal(layout.runs, `${priv}/runs`);
  assert.equal(layout.tmp, `${priv}/tmp`);
  assert.equal(layout.builds, `${priv}/builds`);
  assert.equal(layout.sources, "/home/me/.cache/nsbuild/tmp/verify-1/views/0");
  assert.equal(layout.bases, store.bases);
  assert.equal(layout.refs, store.refs);
  assert.equal(layout.locks, store.locks);
  assert.equal(layout.logs, store.logs);
  assert.equal(sideLayout(store, { store: priv }).sources, store.sources);
});

Deno.test("sideRecipe() reads each viewed directory source through its view under the same name", () => {
  const loaded = {
    file: "/r/recipe.ts",
    recipe: {
      name: "x",
      sources: [
        { path: "/r/files/d", dest: "d" },
        { path: "/r/files/f.c", dest: "f.c" },
        { url: "https://example.invalid/a.tar", sha256: "00", dest: "a.tar" },
      ],
    },
  };
  const out = sideRecipe(loaded, { store: "/s", views: { "/r/files/d": "/s/views/1" } });
  assert.deepEqual(out.recipe.sources, [
    { path: "/s/views/1", dest: "d" },
    { path: "/r/files/f.c", dest: "f.c" },
    { url: "https://example.invalid/a.tar", sha256: "00", dest: "a.tar" },
  ]);
  // The caller's recipe is not changed.
  assert.equal(loaded.recipe.sources[0]!.path, "/r/files/d");
  assert.equal(sideRecipe(loaded, { store: "/s" }), loaded);
});

Deno.test("parseSide() accepts what verify passes and refuses anything else with the field named", () => {
  const side = {
    store: "/s/b",
    sources: "/s/views/0",
    views: { "/r/d": "/s/views/1" },
    clockOffsetSeconds: 315360000,
  };
  assert.deepEqual(parseSide(JSON.stringify(side)), side);
  assert.deepEqual(parseSide('{"store":"/s/a"}'), { store: "/s/a" });
  assert.throws(() => parseSide("{"), /--verify-side is not JSON/);
  assert.throws(() => parseSide("[]"), /must be a JSON object/);
  assert.throws(() => parseSide('{"store":"rel"}'), /store must be an absolute path/);
  assert.throws(() => parseSide('{"store":"/s","extra":1}'), /unknown field "extra"/);
  assert.throws(
    () => parseSide('{"store":"/s","views":{"/a":"b"}}'),
    /views must map absolute paths/,
  );
  assert.throws(
    () => parseSide('{"store":"/s","clockOffsetSeconds":1.5}'),
    /clockOffsetSeconds must be a whole number/,
  );
});
