import assert from "node:assert/strict";
import { describe, RecipeError, suggestField, validateRecipe } from "./validate.ts";
import type { Recipe } from "./types.ts";

const FILE = "recipes/x.ts";
const SHA = "8d99142afd92576f30b0cd7cb42a8dc6809998bc5d607d88761f512e26c7db20";

function valid(): Record<string, unknown> {
  return {
    name: "hello",
    version: "1.0",
    base: { debian: "bookworm" },
    steps: [{ name: "build", run: "make" }],
  };
}

/** The lines of the RecipeError that validateRecipe() throws for the value. */
function problems(value: unknown): string[] {
  try {
    validateRecipe(value, FILE);
  } catch (e) {
    assert.ok(e instanceof RecipeError, `expected a RecipeError, got ${e}`);
    assert.equal(e.file, FILE);
    return e.message.split("\n");
  }
  assert.fail("the recipe was accepted");
}

function withSteps(...steps: unknown[]): Record<string, unknown> {
  return { ...valid(), steps };
}

Deno.test("validateRecipe() accepts a minimal recipe and returns it as written", () => {
  assert.deepEqual(validateRecipe(valid(), FILE), valid());
});

Deno.test("validateRecipe() accepts every field and keeps each one", () => {
  const recipe: Recipe = {
    name: "hello+extra_1.0-x",
    version: "2:1.0~rc1",
    description: "",
    base: { debian: "bookworm", packages: ["build-essential", "g++"] },
    sources: [
      { url: "https://example.org/a/hello%20world.tar.gz", sha256: SHA },
      { path: "../src/", dest: "tree" },
      { debian: "hello", version: "2.10-3" },
    ],
    env: { CFLAGS: "-O2", _EMPTY: "" },
    steps: [
      { name: "unpack", run: "tar xf /src/hello.tar.gz" },
      {
        name: "build.1_x-y",
        run: ["make", ""],
        env: { V: "1" },
        cwd: "/build/hello",
        network: true,
        relaxSeccomp: { groups: ["personality"], reason: "the tests run setarch -R" },
      },
    ],
    outputs: ["/out/bin", "/out"],
    sourceDateEpoch: 0,
  };
  assert.deepEqual(validateRecipe(recipe, FILE), recipe);
});

Deno.test("validateRecipe() returns a copy the recipe module cannot change afterwards", () => {
  const input = valid();
  const recipe = validateRecipe(input, FILE);
  (input.steps as { run: string }[])[0]!.run = "rm -rf /";
  input.name = "other";
  assert.equal(recipe.name, "hello");
  assert.equal(recipe.steps[0]!.run, "make");
});

Deno.test("validateRecipe() names the file and the field path of a wrongly typed value", () => {
  const lines = problems(withSteps(
    { name: "a", run: "true" },
    { name: "b", run: "true" },
    { name: "c", run: 3 },
  ));
  assert.deepEqual(lines, [
    "recipes/x.ts: steps[2].run: expected a string or an array of strings, got a number (3)",
  ]);
});

Deno.test("validateRecipe() names an array element's index inside a field", () => {
  assert.deepEqual(problems(withSteps({ name: "a", run: ["make", 1] })), [
    "recipes/x.ts: steps[0].run[1]: expected a string, got a number (1)",
  ]);
});

Deno.test("validateRecipe() suggests the nearest known field for an unknown one", () => {
  const lines = problems({
    ...valid(),
    stpes: [],
    steps: [{ name: "a", run: "true", netwrok: true, Env: {} }],
  });
  assert.deepEqual(lines, [
    'recipes/x.ts: stpes: unknown field (did you mean "steps"?)',
    'recipes/x.ts: steps[0].netwrok: unknown field (did you mean "network"?)',
    'recipes/x.ts: steps[0].Env: unknown field (did you mean "env"?)',
  ]);
});

Deno.test("validateRecipe() maps other tools' words to the field that does that here", () => {
  assert.deepEqual(problems(withSteps({ name: "configure", comand: "./configure" })), [
    'recipes/x.ts: steps[0].comand: unknown field (did you mean "run"?)',
    "recipes/x.ts: steps[0].run: missing; expected a string or an array of strings",
  ]);
});

Deno.test("validateRecipe() lists the known fields when no unknown one is close", () => {
  assert.deepEqual(problems(withSteps({ name: "a", run: "true", zzz: 1 })), [
    "recipes/x.ts: steps[0].zzz: unknown field (known: name, run, env, cwd, network, relaxSeccomp)",
  ]);
});

Deno.test("validateRecipe() reports every problem, one line each, each naming the file", () => {
  const lines = problems({
    name: "Hello World",
    base: { debian: "bookworm", packages: ["Build_Essential"] },
    env: { "1X": "one" },
    steps: [{ name: "build", run: "make" }, { name: "build", run: "make\0install" }],
    outputs: ["/etc/passwd"],
  });
  assert.deepEqual(lines, [
    'recipes/x.ts: name: "Hello World" is not a package name: lowercase letters, digits, "+", ".", "_" and "-", starting with a letter or digit',
    'recipes/x.ts: version: missing; expected a version like "1.0"',
    'recipes/x.ts: base.packages[0]: "Build_Essential" is not a Debian package name: two or more of lowercase letters, digits, "+", "-" and ".", starting with a letter or digit',
    'recipes/x.ts: env["1X"]: not a variable name: letters, digits and _, not starting with a digit',
    "recipes/x.ts: steps[1].run: contains a NUL byte",
    'recipes/x.ts: steps[1].name: "build" is already the name of steps[0]',
    'recipes/x.ts: outputs[0]: "/etc/passwd" is not under /out: outputs are "/out" or paths below it',
  ]);
});

Deno.test("validateRecipe() stops listing after 20 problems and says how many more", () => {
  const steps = Array.from({ length: 25 }, (_, i) => ({ name: `s${i}`, run: i }));
  const lines = problems(withSteps(...steps));
  assert.equal(lines.length, 21);
  assert.equal(lines[20], "recipes/x.ts: and 5 more problems");
});

Deno.test("validateRecipe() refuses a default export that is not a plain object", () => {
  for (
    const [value, got] of [
      [[valid()], "an array"],
      [new Map(), "an instance of Map"],
      ["hello", 'a string ("hello")'],
      [null, "null"],
      [Promise.resolve(valid()), "a Promise"],
    ] as const
  ) {
    assert.deepEqual(problems(value), [`recipes/x.ts: expected a recipe object, got ${got}`]);
  }
});

Deno.test("validateRecipe() refuses a class instance where a plain object belongs", () => {
  class Step {
    name = "a";
    run = "true";
  }
  assert.deepEqual(problems(withSteps(new Step())), [
    'recipes/x.ts: steps[0]: expected a step: { name: "build", run: "make" }, got an instance of Step',
  ]);
});

Deno.test("validateRecipe() requires at least one step, and a non-blank command in each", () => {
  assert.deepEqual(problems(withSteps()), [
    "recipes/x.ts: steps: is empty; a recipe needs at least one step",
  ]);
  assert.deepEqual(problems(withSteps({ name: "a", run: " \n" }, { name: "b", run: [] })), [
    "recipes/x.ts: steps[0].run: is only blanks",
    "recipes/x.ts: steps[1].run: is empty; give at least the command",
  ]);
  assert.deepEqual(problems(withSteps({ name: "a", run: [""] })), [
    "recipes/x.ts: steps[0].run[0]: is empty",
  ]);
});

Deno.test("validateRecipe() checks step names, cwd and network", () => {
  assert.deepEqual(
    problems(withSteps(
      { name: "a b", run: "true" },
      { name: "c", run: "true", cwd: "src" },
      { name: "d", run: "true", network: "yes" },
      { run: "true" },
    )),
    [
      'recipes/x.ts: steps[0].name: "a b" is not a step name: letters, digits, ".", "_" and "-"',
      'recipes/x.ts: steps[1].cwd: "src" is not an absolute path (did you mean "/build/src"?)',
      'recipes/x.ts: steps[2].network: expected true or false, got a string ("yes")',
      'recipes/x.ts: steps[3].name: missing; expected a step name like "build"',
    ],
  );
});

Deno.test("validateRecipe() reports a hole in an array instead of skipping it", () => {
  // deno-lint-ignore no-sparse-arrays
  const steps = [{ name: "a", run: "true" }, , { name: "b", run: "true" }];
  assert.deepEqual(problems({ ...valid(), steps }), [
    "recipes/x.ts: steps[1]: missing (the array has a hole)",
  ]);
});

Deno.test("validateRecipe() finds a NUL byte in any string", () => {
  const lines = problems({
    ...valid(),
    version: "1\0",
    description: "a\0b",
    env: { A: "x\0" },
    steps: [{ name: "a", run: ["sh", "-c\0"], env: { B: "\0" } }],
  });
  assert.deepEqual(lines, [
    "recipes/x.ts: version: contains a NUL byte",
    "recipes/x.ts: description: contains a NUL byte",
    "recipes/x.ts: env.A: contains a NUL byte",
    "recipes/x.ts: steps[0].run[1]: contains a NUL byte",
    "recipes/x.ts: steps[0].env.B: contains a NUL byte",
  ]);
});

Deno.test("validateRecipe() wants env values as strings and SOURCE_DATE_EPOCH as its own field", () => {
  assert.deepEqual(problems({ ...valid(), env: { JOBS: 4, SOURCE_DATE_EPOCH: "1" } }), [
    'recipes/x.ts: env.JOBS: expected a string, got a number (4) (write it as "4")',
    'recipes/x.ts: env.SOURCE_DATE_EPOCH: set by nsbuild from the recipe\'s "sourceDateEpoch"; set that instead',
  ]);
  assert.deepEqual(problems({ ...valid(), env: ["A=1"] }), [
    "recipes/x.ts: env: expected an object of variable names to string values, got an array",
  ]);
});

Deno.test("validateRecipe() takes a sha256 only as 64 lowercase hex digits", () => {
  const source = (sha256: unknown) => ({
    ...valid(),
    sources: [{ url: "https://example.org/a.tar.gz", sha256 }],
  });
  assert.deepEqual(problems(source(SHA.toUpperCase())), [
    "recipes/x.ts: sources[0].sha256: write the digest in lowercase",
  ]);
  assert.deepEqual(problems(source(`sha256:${SHA}`)), [
    'recipes/x.ts: sources[0].sha256: give the digest without the "sha256:" prefix',
  ]);
  assert.deepEqual(problems(source("abc")), [
    "recipes/x.ts: sources[0].sha256: expected 64 lowercase hex digits, got 3 characters (a sha256sum of the file gives it)",
  ]);
  assert.deepEqual(problems(source(undefined)), [
    "recipes/x.ts: sources[0].sha256: missing; expected a sha256 of 64 lowercase hex digits",
  ]);
});

Deno.test("validateRecipe() fetches only http and https URLs, without credentials", () => {
  const source = (url: string) => ({ ...valid(), sources: [{ url, sha256: SHA }] });
  assert.deepEqual(problems(source("ftp://example.org/a.tar.gz")), [
    'recipes/x.ts: sources[0].url: "ftp:" URLs cannot be fetched; use http or https',
  ]);
  assert.deepEqual(problems(source("example.org/a.tar.gz")), [
    'recipes/x.ts: sources[0].url: "example.org/a.tar.gz" is not a URL',
  ]);
  assert.deepEqual(problems(source("https://me:secret@example.org/a.tar.gz")), [
    "recipes/x.ts: sources[0].url: carries a user name or password, which would end up in the manifest",
  ]);
});

Deno.test("validateRecipe() refuses two sources that would share a name under /src", () => {
  const lines = problems({
    ...valid(),
    sources: [
      { url: "https://example.org/v1/hello.tar.gz", sha256: SHA },
      { path: "vendor/hello.tar.gz" },
      { debian: "hello", version: "1.0-1", dest: "hello.tar.gz" },
    ],
  });
  assert.deepEqual(lines, [
    'recipes/x.ts: sources[1]: a second source named "hello.tar.gz" under /src (sources[0] is the first); give one a different "dest"',
    'recipes/x.ts: sources[2]: a second source named "hello.tar.gz" under /src (sources[0] is the first); give one a different "dest"',
  ]);
});

Deno.test("validateRecipe() asks for dest when no name can be taken from the source", () => {
  assert.deepEqual(
    problems({
      ...valid(),
      sources: [{ url: "https://example.org/", sha256: SHA }, { path: ".." }, {
        path: "x",
        dest: "a/b",
      }],
    }),
    [
      'recipes/x.ts: sources[0]: no name to give it under /src can be taken from it; give "dest"',
      'recipes/x.ts: sources[1]: no name to give it under /src can be taken from it; give "dest"',
      'recipes/x.ts: sources[2].dest: "a/b" is not a name: one path component, not "." or ".."',
    ],
  );
});

Deno.test("validateRecipe() checks Debian source packages' names and versions", () => {
  assert.deepEqual(
    problems({ ...valid(), sources: [{ debian: "Hello", version: "latest" }] }),
    [
      'recipes/x.ts: sources[0].debian: "Hello" is not a Debian source package name',
      'recipes/x.ts: sources[0].version: "latest" is not a Debian version (like "2.10-3" or "1:2.3-1")',
    ],
  );
  assert.deepEqual(problems({ ...valid(), sources: [{ debian: "hello" }] }), [
    'recipes/x.ts: sources[0].version: missing; expected the exact version, like "2.10-3"',
  ]);
});

Deno.test("validateRecipe() takes one kind of source per entry, with that kind's fields only", () => {
  assert.deepEqual(
    problems({
      ...valid(),
      sources: [
        { url: "https://example.org/a", path: "a" },
        { path: "a", sha256: SHA },
        { pth: "a" },
        {},
      ],
    }),
    [
      "recipes/x.ts: sources[0]: give one of url, path, not 2",
      "recipes/x.ts: sources[1].sha256: unknown field (known: path, dest)",
      'recipes/x.ts: sources[2].pth: unknown field (did you mean "path"?)',
      "recipes/x.ts: sources[3]: expected a source: { url, sha256 }, { path } or { debian, version }",
    ],
  );
});

Deno.test("validateRecipe() takes exactly one kind of base", () => {
  const base = (b: unknown) => problems({ ...valid(), base: b });
  assert.deepEqual(base({ debian: "bookworm", tarball: "x.tar" }), [
    "recipes/x.ts: base: give one of debian, tarball, not 2",
  ]);
  assert.deepEqual(base({}), [
    'recipes/x.ts: base: expected a base: { debian: "bookworm" }, { tarball: "path" } or { directory: "path" }',
  ]);
  assert.deepEqual(base({ debain: "bookworm" }), [
    'recipes/x.ts: base.debain: unknown field (did you mean "debian"?)',
  ]);
  assert.deepEqual(base({ tarball: "x.tar", packages: ["make"] }), [
    "recipes/x.ts: base.packages: unknown field (known: tarball)",
  ]);
  assert.deepEqual(base("debian:bookworm"), [
    'recipes/x.ts: base: expected a base: { debian: "bookworm" }, { tarball: "path" } or { directory: "path" }, got a string ("debian:bookworm")',
  ]);
});

Deno.test("validateRecipe() checks a Debian base's suite and package names", () => {
  assert.deepEqual(
    problems({ ...valid(), base: { debian: "Bookworm", packages: ["make=4.3-4.1", "x"] } }),
    [
      'recipes/x.ts: base.debian: "Bookworm" is not a suite name: lowercase letters, digits, "-" and "."',
      'recipes/x.ts: base.packages[0]: "make=4.3-4.1": packages are given by name only; the manifest records versions',
      'recipes/x.ts: base.packages[1]: "x" is not a Debian package name: two or more of lowercase letters, digits, "+", "-" and ".", starting with a letter or digit',
    ],
  );
});

Deno.test("validateRecipe() keeps outputs under /out and normalizes them", () => {
  assert.deepEqual(
    validateRecipe({ ...valid(), outputs: ["/out/", "/out//bin/./x"] }, FILE).outputs,
    ["/out", "/out/bin/x"],
  );
  assert.deepEqual(
    problems({ ...valid(), outputs: ["out/bin", "/out/../etc", "/outside", "/out/a", "/out/a/"] }),
    [
      'recipes/x.ts: outputs[0]: "out/bin" is not under /out: outputs are "/out" or paths below it',
      'recipes/x.ts: outputs[1]: "/out/../etc" is not under /out: outputs are "/out" or paths below it',
      'recipes/x.ts: outputs[2]: "/outside" is not under /out: outputs are "/out" or paths below it',
      'recipes/x.ts: outputs[4]: "/out/a/" is already outputs[3]',
    ],
  );
  assert.deepEqual(problems({ ...valid(), outputs: [] }), [
    "recipes/x.ts: outputs: is empty; leave it out to keep all of /out",
  ]);
});

Deno.test("validateRecipe() takes sourceDateEpoch as a whole number of seconds, 0 or more", () => {
  for (const epoch of [-1, 1.5, "1700000000", Number.NaN]) {
    const [line] = problems({ ...valid(), sourceDateEpoch: epoch });
    assert.match(
      line!,
      /^recipes\/x\.ts: sourceDateEpoch: expected a whole number of seconds since 1970, 0 or more, got /,
    );
  }
});

Deno.test("validateRecipe() treats an optional field set to undefined as absent", () => {
  const recipe = validateRecipe({ ...valid(), description: undefined, outputs: undefined }, FILE);
  assert.deepEqual(recipe, valid());
});

Deno.test("suggestField() tolerates one edit in short names and two in longer ones", () => {
  const known = ["name", "run", "env", "cwd", "network"];
  assert.equal(suggestField("nmae", known), "name");
  assert.equal(suggestField("rn", known), "run");
  assert.equal(suggestField("ntwrok", known), "network");
  assert.equal(suggestField("xyz", known), undefined);
  assert.equal(suggestField("NETWORK", known), "network");
  // An alias counts only when its field is one of the known ones here.
  assert.equal(suggestField("tar", ["name", "run"]), undefined);
  assert.equal(suggestField("tar", ["tarball"]), "tarball");
});

Deno.test("describe() shows a value's kind, and short values themselves", () => {
  assert.equal(describe(undefined), "undefined");
  assert.equal(describe(true), "a boolean (true)");
  assert.equal(describe(10n), "a bigint (10n)");
  assert.equal(describe(() => 1), "a function");
  assert.equal(describe(Object.create(null)), "an object");
  assert.equal(describe("x".repeat(50)), `a string ("${"x".repeat(37)}...")`);
});

Deno.test("validateRecipe() names what is wrong in a step's relaxSeccomp", () => {
  assert.deepEqual(
    problems(withSteps({
      name: "a",
      run: "true",
      relaxSeccomp: { groups: ["tiocsti", "ptrace", "perf"], reason: "" },
    })),
    [
      'recipes/x.ts: steps[0].relaxSeccomp.groups[0]: "tiocsti" cannot be relaxed ' +
      "(pushing input into a terminal (TIOCSTI) or driving the console (TIOCLINUX))",
      'recipes/x.ts: steps[0].relaxSeccomp.groups[1]: "ptrace" is not a seccomp group; the groups ' +
      "are keyring, kexec, bpf, userfaultfd, perf, personality, userns",
      "recipes/x.ts: steps[0].relaxSeccomp.reason: is empty",
    ],
  );
  assert.deepEqual(
    problems(withSteps({ name: "a", run: "true", relaxSeccomp: { groups: ["perf"] } })),
    [
      "recipes/x.ts: steps[0].relaxSeccomp.reason: missing; " +
      "expected one line saying why the step needs it",
    ],
  );
});
