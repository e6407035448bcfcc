import assert from "node:assert/strict";
import { describeThrown, loadRecipe } from "./load.ts";
import { RecipeError } from "./validate.ts";
import { DEFAULT_SOURCE_DATE_EPOCH } from "./types.ts";

const CTX = { arch: "arm64", nsbuildVersion: "9.9.9" };
const TESTDATA = decodeURIComponent(new URL("./testdata", import.meta.url).pathname);

function testdata(name: string): string {
  return `${TESTDATA}/${name}`;
}

/** How messages name a file: relative to the working directory when under it. */
function label(abs: string): string {
  const cwd = Deno.cwd();
  return abs.startsWith(`${cwd}/`) ? abs.slice(cwd.length + 1) : abs;
}

async function loadError(path: string): Promise<RecipeError> {
  try {
    await loadRecipe(path, CTX);
  } catch (e) {
    assert.ok(e instanceof RecipeError, `expected a RecipeError, got ${e}`);
    return e;
  }
  assert.fail(`${path} loaded`);
}

/** A recipe written to a fresh directory, for cases a checked-in file cannot be. */
async function scratch(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "nsbuild-recipe-test-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${name}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  return dir;
}

const STEPS = 'steps: [{ name: "build", run: "true" }]';

Deno.test("loadRecipe() makes local paths absolute against the recipe's directory", async () => {
  const loaded = await loadRecipe(testdata("hello.ts"), CTX);
  assert.equal(loaded.file, testdata("hello.ts"));
  assert.equal(loaded.text, await Deno.readTextFile(testdata("hello.ts")));
  assert.deepEqual(loaded.recipe.sources, [
    {
      url: "https://example.org/releases/hello-2.12.1.tar.gz",
      sha256: "8d99142afd92576f30b0cd7cb42a8dc6809998bc5d607d88761f512e26c7db20",
      dest: "hello-2.12.1.tar.gz",
    },
    { path: testdata("files/hello.c"), dest: "hello.c" },
    { debian: "hello", version: "2.10-3", dest: "hello-debian" },
  ]);
  assert.deepEqual(loaded.recipe.base, {
    debian: "bookworm",
    packages: ["build-essential", "debhelper"],
  });
  assert.equal(loaded.recipe.sourceDateEpoch, 1700000000);
  assert.deepEqual(loaded.recipe.outputs, ["/out/usr/local/bin", "/out/usr/local/share/man"]);
  assert.deepEqual(loaded.recipe.steps[1], {
    name: "build",
    run: ["make", "-j4"],
    env: { LC_ALL: "C" },
    cwd: "/build/hello-2.12.1",
    network: false,
  });
  assert.equal(loaded.recipe.steps[3]!.network, true);
});

Deno.test("loadRecipe() fills in every default the recipe leaves out", async () => {
  const loaded = await loadRecipe(testdata("minimal.ts"), CTX);
  assert.deepEqual(loaded.recipe, {
    name: "minimal",
    version: "0",
    base: { directory: testdata("files/rootfs") },
    sources: [],
    env: {},
    steps: [{ name: "noop", run: "true", env: {}, cwd: "/build", network: false }],
    outputs: ["/out"],
    sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH,
  });
});

Deno.test("loadRecipe() takes a path relative to the working directory", async () => {
  const loaded = await loadRecipe(label(testdata("minimal.ts")), CTX);
  assert.equal(loaded.file, testdata("minimal.ts"));
});

Deno.test("loadRecipe() calls a default export function with the context and awaits it", async () => {
  const loaded = await loadRecipe(testdata("by_arch.ts"), CTX);
  assert.equal(loaded.recipe.name, "tool-arm64");
  assert.equal(loaded.recipe.version, "9.9.9");
  assert.deepEqual(loaded.recipe.steps[0]!.run, ["echo", "arm64"]);
});

Deno.test("loadRecipe() resolves a tarball base against the recipe's directory", async () => {
  const dir = await scratch({
    "recipes/r.ts":
      `export default { name: "r", version: "1", base: { tarball: "../bases/root.tar" }, ${STEPS} };`,
    "bases/root.tar": "",
  });
  try {
    const loaded = await loadRecipe(`${dir}/recipes/r.ts`, CTX);
    assert.deepEqual(loaded.recipe.base, { tarball: `${dir}/bases/root.tar` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRecipe() names every local path that is missing or of the wrong kind", async () => {
  const e = await loadError(testdata("missing_paths.ts"));
  const file = label(testdata("missing_paths.ts"));
  assert.deepEqual(e.message.split("\n"), [
    `${file}: base.tarball: files/no-such-rootfs.tar.zst, that is ${
      testdata("files/no-such-rootfs.tar.zst")
    } does not exist (paths are relative to the recipe)`,
    `${file}: sources[0].path: files/no-such-dir, that is ${
      testdata("files/no-such-dir")
    } does not exist (paths are relative to the recipe)`,
  ]);
  const dir = await scratch({
    "r.ts": `export default { name: "r", version: "1", base: { directory: "x.tar" }, ${STEPS} };`,
    "x.tar": "",
  });
  try {
    assert.equal(
      (await loadError(`${dir}/r.ts`)).message,
      `${dir}/r.ts: base.directory: x.tar, that is ${dir}/x.tar is a file, not a directory`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRecipe() reports a missing file by name, with where it looked", async () => {
  const e = await loadError(testdata("no_such_recipe.ts"));
  assert.equal(e.message, `${label(testdata("no_such_recipe.ts"))}: no such recipe file`);
  assert.equal(e.hint, `looked for ${testdata("no_such_recipe.ts")}`);
});

Deno.test("loadRecipe() refuses a directory and a file that is not a module", async () => {
  const e = await loadError(TESTDATA);
  assert.equal(e.message, `${label(TESTDATA)}: is a directory, not a recipe`);
  const c = await loadError(testdata("files/hello.c"));
  assert.equal(
    c.message,
    `${
      label(testdata("files/hello.c"))
    }: a recipe is a TypeScript module, and its name must end in .ts (or .mts, .js, .mjs)`,
  );
});

Deno.test("loadRecipe() reports a syntax error in one line with the file, line and column", async () => {
  const dir = await scratch({ "r.ts": "// a recipe\nconst x y = 3;\nexport default {};\n" });
  try {
    const e = await loadError(`${dir}/r.ts`);
    assert.equal(
      e.message,
      `${dir}/r.ts: importing it failed: SyntaxError: Expected a semicolon (at ${dir}/r.ts:2:9)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRecipe() reports a module the recipe imports that is missing, in one line", async () => {
  const dir = await scratch({
    "r.ts": 'import { steps } from "./lib/steps.ts";\nexport default { steps };\n',
  });
  try {
    const e = await loadError(`${dir}/r.ts`);
    assert.equal(
      e.message,
      `${dir}/r.ts: importing it failed: Module not found "${dir}/lib/steps.ts". (at ${dir}/r.ts:1:23)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRecipe() reports an export the recipe imports that does not exist", async () => {
  const dir = await scratch({
    "r.ts": 'import { steps } from "./lib.ts";\nexport default { steps };\n',
    "lib.ts": "export const step = 1;\n",
  });
  try {
    const e = await loadError(`${dir}/r.ts`);
    assert.equal(
      e.message,
      `${dir}/r.ts: importing it failed: SyntaxError: The requested module './lib.ts' does not provide an export named 'steps' (at ${dir}/r.ts:1:10)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRecipe() reports an error the recipe throws with where it was thrown", async () => {
  const e = await loadError(testdata("throws.ts"));
  const file = label(testdata("throws.ts"));
  assert.equal(
    e.message,
    `${file}: importing it failed: Error: VERSION is not set (at ${file}:5:9)`,
  );
});

Deno.test("loadRecipe() names the exports of a recipe without a default export", async () => {
  const e = await loadError(testdata("no_default.ts"));
  assert.equal(
    e.message,
    `${
      label(testdata("no_default.ts"))
    }: no default export; the recipe is the module's default export`,
  );
  assert.equal(e.hint, "it exports recipe; end it with `export default recipe;`");
});

Deno.test("loadRecipe() refuses a default export that is neither an object nor a function", async () => {
  const e = await loadError(testdata("default_string.ts"));
  assert.equal(
    e.message,
    `${
      label(testdata("default_string.ts"))
    }: its default export is a string ("hello"); expected a recipe object, or a function of the build's context returning one`,
  );
});

Deno.test("loadRecipe() reports an error the recipe function throws", async () => {
  const e = await loadError(testdata("function_throws.ts"));
  const file = label(testdata("function_throws.ts"));
  assert.equal(
    e.message,
    `${file}: its default export, a function, failed: Error: no build for arm64 (at ${file}:5:9)`,
  );
});

Deno.test("loadRecipe() refuses what a recipe function returns when it is not an object", async () => {
  const e = await loadError(testdata("function_returns_array.ts"));
  assert.equal(
    e.message,
    `${
      label(testdata("function_returns_array.ts"))
    }: its default export, a function, returned an array; expected a recipe object`,
  );
});

Deno.test("loadRecipe() reports each invalid field, naming the file", async () => {
  const file = label(testdata("invalid_types.ts"));
  assert.deepEqual((await loadError(testdata("invalid_types.ts"))).message.split("\n"), [
    `${file}: steps[0].comand: unknown field (did you mean "run"?)`,
    `${file}: steps[0].run: missing; expected a string or an array of strings`,
    `${file}: steps[1].network: expected true or false, got a string ("yes")`,
    `${file}: steps[2].run: expected a string or an array of strings, got a number (3)`,
  ]);
  const values = label(testdata("invalid_values.ts"));
  assert.deepEqual((await loadError(testdata("invalid_values.ts"))).message.split("\n"), [
    `${values}: name: "Hello World" is not a package name: lowercase letters, digits, "+", ".", "_" and "-", starting with a letter or digit`,
    `${values}: base.packages[0]: "Build_Essential" is not a Debian package name: two or more of lowercase letters, digits, "+", "-" and ".", starting with a letter or digit`,
    `${values}: sources[0].sha256: write the digest in lowercase`,
    `${values}: env["1X"]: not a variable name: letters, digits and _, not starting with a digit`,
    `${values}: steps[1].run: contains a NUL byte`,
    `${values}: steps[1].name: "build" is already the name of steps[0]`,
    `${values}: outputs[0]: "/etc/passwd" is not under /out: outputs are "/out" or paths below it`,
  ]);
  assert.equal(
    (await loadError(testdata("invalid_base.ts"))).message,
    `${label(testdata("invalid_base.ts"))}: base: give one of debian, tarball, not 2`,
  );
});

Deno.test("loadRecipe() errors carry no stack trace and no terminal colours", async () => {
  for (const name of ["throws.ts", "function_throws.ts", "no_such_recipe.ts"]) {
    const e = await loadError(testdata(name));
    assert.ok(!e.message.includes("\n") && !e.message.includes("\u001b"), name);
  }
});

Deno.test("describeThrown() shows a thrown value that is not an Error", () => {
  assert.deepEqual(describeThrown("nope"), { message: "threw nope", hint: "" });
  assert.deepEqual(describeThrown(Object.create(null)), { message: "threw an object", hint: "" });
});

Deno.test("describeThrown() keeps Deno's hint and drops the colours", () => {
  const e = Object.assign(
    new TypeError(
      'Unsupported scheme "ftp" for module "ftp://x/y.ts"\n  \x1b[0m\x1b[36mhint:\x1b[0m Use file:, http: or https:\n    at \x1b[36mfile:///r/x.ts\x1b[0m:\x1b[33m1\x1b[0m:\x1b[33m15\x1b[0m',
    ),
    { code: "ERR_MODULE_NOT_FOUND" },
  );
  assert.deepEqual(describeThrown(e), {
    message: 'Unsupported scheme "ftp" for module "ftp://x/y.ts" (at /r/x.ts:1:15)',
    hint: "Use file:, http: or https:",
  });
});

Deno.test("loadRecipe() answers a bare import with nsbuild's advice, not Deno's", async () => {
  const dir = await scratch({ "r.ts": 'import x from "left-pad";\nexport default x;\n' });
  try {
    const e = await loadError(`${dir}/r.ts`);
    // Deno words the rest differently with and without a deno.json.
    assert.ok(
      e.message.startsWith(`${dir}/r.ts: importing it failed: Import "left-pad" not a dependency`),
      e.message,
    );
    assert.equal(e.hint, "a recipe imports other files by relative path, like ./lib.ts");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
