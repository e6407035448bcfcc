/**
 * Run-time checking of a recipe's default export. Recipes are imported,
 * not type-checked, so nothing the `Recipe` type promises can be assumed:
 * every field is checked here, unknown ones included (a misspelt
 * `netwrok: true` would otherwise be dropped in silence), and every
 * problem is reported at once, one line each, naming the file and the
 * field, so a recipe is fixed in one round.
 */
import { normalizePath } from "../util/path.ts";
import { isDebianPackageName } from "../base/debian.ts";
import { relaxableGroups, RULE_GROUPS } from "../sandbox/seccomp_rules.ts";
import type {
  DebianBase,
  DebianSource,
  DirectoryBase,
  PathSource,
  Recipe,
  RecipeBase,
  RecipeSource,
  RecipeStep,
  TarballBase,
  UrlSource,
} from "./types.ts";

/** One thing wrong with a recipe: the field (`steps[2].run`, or "" for the whole file) and what. */
export interface RecipeProblem {
  /** The field, as code would reach it: `steps[2].run`, `env["1X"]`; "" for the recipe as a whole. */
  path: string;
  /** What is wrong with it, without the file or the field. */
  message: string;
}

/** A recipe that cannot be loaded or is not valid; the message has one line per problem. */
export class RecipeError extends Error {
  /** Always "RecipeError". */
  override name = "RecipeError";
  /** The message is built from the problems, one line each, capped at 20 lines. */
  constructor(
    /** The recipe file as messages name it: "recipes/hello.ts". */
    readonly file: string,
    /** Every problem found, in the order of the recipe's fields. */
    readonly problems: readonly RecipeProblem[],
    /** What to do about it, when the message alone does not say; often "". */
    readonly hint = "",
  ) {
    super(formatProblems(file, problems));
  }
}

// Beyond this many lines the first ones are what matters; the rest would
// only push them off the screen.
const MAX_LINES = 20;

function formatProblems(file: string, problems: readonly RecipeProblem[]): string {
  const lines = problems.slice(0, MAX_LINES).map((p) =>
    p.path ? `${file}: ${p.path}: ${p.message}` : `${file}: ${p.message}`
  );
  const more = problems.length - MAX_LINES;
  if (more > 0) lines.push(`${file}: and ${more} more problem${more === 1 ? "" : "s"}`);
  return lines.join("\n");
}

const NAME = /^[a-z0-9][a-z0-9+._-]*$/;
const STEP_NAME = /^[A-Za-z0-9._-]+$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SHA256 = /^[0-9a-f]{64}$/;
// Same rule as `debian:SUITE` base references.
const SUITE = /^[a-z0-9][a-z0-9.-]*$/;
// Debian policy 5.6.12, loosely: [epoch:]upstream[-revision], upstream starting with a digit.
const DEBIAN_VERSION = /^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$/;
// Control characters break log lines and file names; NUL cannot cross execve at all.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

const RECIPE_FIELDS = [
  "name",
  "version",
  "description",
  "base",
  "sources",
  "env",
  "steps",
  "outputs",
  "sourceDateEpoch",
];
const STEP_FIELDS = ["name", "run", "env", "cwd", "network", "relaxSeccomp"];
const BASE_KINDS = ["debian", "tarball", "directory"] as const;
const BASE_FIELDS = {
  debian: ["debian", "packages"],
  tarball: ["tarball"],
  directory: ["directory"],
};
const SOURCE_KINDS = ["url", "path", "debian"] as const;
const SOURCE_FIELDS = {
  url: ["url", "sha256", "dest"],
  path: ["path", "dest"],
  debian: ["debian", "version", "dest"],
};

/**
 * Words people reach for from other build tools, and the field that does
 * that here: `command: "make"` gets `did you mean "run"?`.
 */
const ALIASES: Record<string, string> = {
  cmd: "run",
  command: "run",
  commands: "run",
  script: "run",
  shell: "run",
  environment: "env",
  vars: "env",
  workdir: "cwd",
  dir: "cwd",
  net: "network",
  output: "outputs",
  artifacts: "outputs",
  source: "sources",
  src: "sources",
  step: "steps",
  epoch: "sourceDateEpoch",
  source_date_epoch: "sourceDateEpoch",
  desc: "description",
  pkgs: "packages",
  package: "packages",
  tar: "tarball",
  rootfs: "directory",
  checksum: "sha256",
  hash: "sha256",
  digest: "sha256",
  destination: "dest",
  target: "dest",
};

/** Optimal string alignment distance: edits, with a swap of two neighbours counted as one. */
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      row[j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known field an unknown one most likely meant, if any is close enough to say so. */
export function suggestField(unknown: string, known: readonly string[]): string | undefined {
  const lower = unknown.toLowerCase();
  let best: { field: string; distance: number } | undefined;
  const consider = (word: string, field: string) => {
    if (!known.includes(field)) return;
    const distance = editDistance(lower, word.toLowerCase());
    // Short names are one typo from many others; allow two only for longer ones.
    const limit = Math.max(word.length, lower.length) >= 6 ? 2 : 1;
    if (distance <= limit && (!best || distance < best.distance)) best = { field, distance };
  };
  for (const field of known) consider(field, field);
  for (const [alias, field] of Object.entries(ALIASES)) consider(alias, field);
  return best?.field;
}

/** A value as a message shows it: `a number (3)`, `an array`, `null`. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string": {
      const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
      return `a string (${JSON.stringify(shown)})`;
    }
    case "number":
      return `a number (${value})`;
    case "boolean":
      return `a boolean (${value})`;
    case "bigint":
      return `a bigint (${value}n)`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
  }
  if (value instanceof Promise) return "a Promise";
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return "an object";
  const ctor = typeof proto?.constructor === "function" ? proto.constructor.name : "";
  return ctor ? `an instance of ${ctor}` : "an object";
}

function fieldPath(parent: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The name a source gets under /src when it names none; undefined when none can be taken. */
export function defaultSourceDest(source: RecipeSource): string | undefined {
  let name: string | undefined;
  if ("url" in source && source.url !== undefined) {
    let segment: string | undefined;
    try {
      segment = new URL(source.url).pathname.split("/").filter(Boolean).pop();
    } catch {
      return undefined;
    }
    try {
      name = segment === undefined ? undefined : decodeURIComponent(segment);
    } catch {
      name = segment;
    }
  } else if ("path" in source && source.path !== undefined) {
    name = normalizePath(source.path).split("/").pop();
  } else if ("debian" in source) {
    name = source.debian;
  }
  return name !== undefined && isSourceDest(name) ? name : undefined;
}

function isSourceDest(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/") &&
    !CONTROL.test(name);
}

/** Collects problems while walking the value; every check returns what it could read. */
class Checker {
  readonly problems: RecipeProblem[] = [];

  fail(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  expected(path: string, what: string, value: unknown): undefined {
    if (value === undefined) return this.fail(path, `missing; expected ${what}`);
    return this.fail(path, `expected ${what}, got ${describe(value)}`);
  }

  object(value: unknown, path: string, what: string): Record<string, unknown> | undefined {
    return isPlainObject(value) ? value : this.expected(path, what, value);
  }

  /** Reports every key that is not one of `known`, with the nearest known one when close. */
  onlyFields(obj: Record<string, unknown>, path: string, known: readonly string[]): boolean {
    let clean = true;
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      clean = false;
      const guess = suggestField(key, known);
      this.fail(
        fieldPath(path, key),
        guess
          ? `unknown field (did you mean "${guess}"?)`
          : `unknown field (known: ${known.join(", ")})`,
      );
    }
    return clean;
  }

  string(
    value: unknown,
    path: string,
    options: { what?: string; empty?: boolean } = {},
  ): string | undefined {
    if (typeof value !== "string") return this.expected(path, options.what ?? "a string", value);
    if (value.includes("\0")) return this.fail(path, "contains a NUL byte");
    if (!options.empty && value === "") return this.fail(path, "is empty");
    return value;
  }

  /** A string without control characters: names, paths, versions. */
  line(value: unknown, path: string, what?: string): string | undefined {
    const text = this.string(value, path, { what });
    if (text === undefined) return undefined;
    if (CONTROL.test(text)) {
      return this.fail(path, `contains a control character: ${describe(text)}`);
    }
    return text;
  }

  array(value: unknown, path: string, what: string): unknown[] | undefined {
    if (!Array.isArray(value)) return this.expected(path, what, value);
    for (let i = 0; i < value.length; i++) {
      // A hole reads as undefined, and would pass for an absent optional field further down.
      if (!(i in value)) return this.fail(`${path}[${i}]`, "missing (the array has a hole)");
    }
    return value;
  }

  env(value: unknown, path: string): Record<string, string> | undefined {
    const obj = this.object(value, path, "an object of variable names to string values");
    if (!obj) return undefined;
    const env: Record<string, string> = {};
    for (const [key, raw] of Object.entries(obj)) {
      const at = fieldPath(path, key);
      if (!ENV_KEY.test(key)) {
        this.fail(at, "not a variable name: letters, digits and _, not starting with a digit");
        continue;
      }
      if (key === "SOURCE_DATE_EPOCH") {
        this.fail(at, 'set by nsbuild from the recipe\'s "sourceDateEpoch"; set that instead');
        continue;
      }
      if (typeof raw === "number" || typeof raw === "boolean") {
        this.fail(at, `expected a string, got ${describe(raw)} (write it as "${raw}")`);
        continue;
      }
      const text = this.string(raw, at, { empty: true });
      if (text !== undefined) env[key] = text;
    }
    return env;
  }
}

function checkBase(c: Checker, value: unknown): RecipeBase | undefined {
  const what = 'a base: { debian: "bookworm" }, { tarball: "path" } or { directory: "path" }';
  const obj = c.object(value, "base", what);
  if (!obj) return undefined;
  const kinds = BASE_KINDS.filter((k) => k in obj);
  if (kinds.length === 0) {
    // A misspelt kind explains itself better than "none given".
    if (c.onlyFields(obj, "base", BASE_KINDS.flatMap((k) => BASE_FIELDS[k]))) {
      c.fail("base", `expected ${what}`);
    }
    return undefined;
  }
  if (kinds.length > 1) {
    return c.fail("base", `give one of ${kinds.join(", ")}, not ${kinds.length}`);
  }
  const kind = kinds[0]!;
  c.onlyFields(obj, "base", BASE_FIELDS[kind]);
  if (kind === "debian") {
    const suite = c.line(obj.debian, "base.debian", 'a Debian suite name like "bookworm"');
    if (suite !== undefined && !SUITE.test(suite)) {
      c.fail(
        "base.debian",
        `"${suite}" is not a suite name: lowercase letters, digits, "-" and "."`,
      );
    }
    const base: DebianBase = { debian: suite ?? "" };
    if (obj.packages !== undefined) {
      const list = c.array(obj.packages, "base.packages", "an array of Debian package names");
      const packages: string[] = [];
      list?.forEach((p, i) => {
        const at = `base.packages[${i}]`;
        const name = c.line(p, at, "a Debian package name");
        if (name === undefined) return;
        if (name.includes("=")) {
          c.fail(at, `"${name}": packages are given by name only; the manifest records versions`);
        } else if (!isDebianPackageName(name)) {
          c.fail(
            at,
            `"${name}" is not a Debian package name: two or more of lowercase letters, ` +
              `digits, "+", "-" and ".", starting with a letter or digit`,
          );
        } else packages.push(name);
      });
      base.packages = packages;
    }
    return base;
  }
  if (kind === "tarball") {
    const path = c.line(obj.tarball, "base.tarball", "a path relative to the recipe");
    return path === undefined ? undefined : { tarball: path } satisfies TarballBase;
  }
  const path = c.line(obj.directory, "base.directory", "a path relative to the recipe");
  return path === undefined ? undefined : { directory: path } satisfies DirectoryBase;
}

function checkSource(c: Checker, value: unknown, at: string): RecipeSource | undefined {
  const what = "a source: { url, sha256 }, { path } or { debian, version }";
  const obj = c.object(value, at, what);
  if (!obj) return undefined;
  const kinds = SOURCE_KINDS.filter((k) => k in obj);
  if (kinds.length === 0) {
    if (c.onlyFields(obj, at, SOURCE_KINDS.flatMap((k) => SOURCE_FIELDS[k]))) {
      c.fail(at, `expected ${what}`);
    }
    return undefined;
  }
  if (kinds.length > 1) return c.fail(at, `give one of ${kinds.join(", ")}, not ${kinds.length}`);
  const kind = kinds[0]!;
  c.onlyFields(obj, at, SOURCE_FIELDS[kind]);
  let dest: string | undefined;
  if (obj.dest !== undefined) {
    dest = c.line(obj.dest, `${at}.dest`, "a name under /src");
    if (dest !== undefined && !isSourceDest(dest)) {
      dest = c.fail(`${at}.dest`, `"${dest}" is not a name: one path component, not "." or ".."`);
    }
  }
  const withDest = <T extends RecipeSource>(source: T): T =>
    dest === undefined ? source : { ...source, dest };
  if (kind === "url") {
    const url = checkUrl(c, obj.url, `${at}.url`);
    const sha256 = checkSha256(c, obj.sha256, `${at}.sha256`);
    if (url === undefined || sha256 === undefined) return undefined;
    return withDest<UrlSource>({ url, sha256 });
  }
  if (kind === "path") {
    const path = c.line(obj.path, `${at}.path`, "a path relative to the recipe");
    return path === undefined ? undefined : withDest<PathSource>({ path });
  }
  const name = c.line(obj.debian, `${at}.debian`, "a Debian source package name");
  if (name !== undefined && !isDebianPackageName(name)) {
    c.fail(`${at}.debian`, `"${name}" is not a Debian source package name`);
  }
  const version = c.line(obj.version, `${at}.version`, 'the exact version, like "2.10-3"');
  if (version !== undefined && !DEBIAN_VERSION.test(version)) {
    c.fail(`${at}.version`, `"${version}" is not a Debian version (like "2.10-3" or "1:2.3-1")`);
  }
  if (name === undefined || version === undefined) return undefined;
  return withDest<DebianSource>({ debian: name, version });
}

function checkUrl(c: Checker, value: unknown, at: string): string | undefined {
  const text = c.line(value, at, "an http or https URL");
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return c.fail(at, `"${text}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return c.fail(at, `"${url.protocol}" URLs cannot be fetched; use http or https`);
  }
  if (url.username || url.password) {
    // The URL is written into the manifest and the logs.
    return c.fail(at, "carries a user name or password, which would end up in the manifest");
  }
  return text;
}

function checkSha256(c: Checker, value: unknown, at: string): string | undefined {
  const text = c.string(value, at, { what: "a sha256 of 64 lowercase hex digits" });
  if (text === undefined) return undefined;
  if (SHA256.test(text)) return text;
  if (/^sha256[:-]/i.test(text)) return c.fail(at, 'give the digest without the "sha256:" prefix');
  if (SHA256.test(text.toLowerCase())) return c.fail(at, "write the digest in lowercase");
  return c.fail(
    at,
    `expected 64 lowercase hex digits, got ${text.length} characters ` +
      `(a sha256sum of the file gives it)`,
  );
}

function checkStep(c: Checker, value: unknown, at: string): RecipeStep | undefined {
  const obj = c.object(value, at, 'a step: { name: "build", run: "make" }');
  if (!obj) return undefined;
  c.onlyFields(obj, at, STEP_FIELDS);
  const name = c.string(obj.name, `${at}.name`, { what: 'a step name like "build"' });
  if (name !== undefined && !STEP_NAME.test(name)) {
    c.fail(`${at}.name`, `"${name}" is not a step name: letters, digits, ".", "_" and "-"`);
  }
  let run: string | string[] | undefined;
  const what = "a string or an array of strings";
  if (typeof obj.run === "string") {
    run = c.string(obj.run, `${at}.run`);
    if (run !== undefined && run.trim() === "") run = c.fail(`${at}.run`, "is only blanks");
  } else if (Array.isArray(obj.run)) {
    const list = c.array(obj.run, `${at}.run`, what);
    if (list && list.length === 0) c.fail(`${at}.run`, "is empty; give at least the command");
    const argv = list?.map((arg, i) => c.string(arg, `${at}.run[${i}]`, { empty: i > 0 }));
    if (argv && argv.length > 0 && argv.every((a) => a !== undefined)) run = argv as string[];
  } else {
    c.expected(`${at}.run`, what, obj.run);
  }
  const step: RecipeStep = { name: name ?? "", run: run ?? "" };
  if (obj.env !== undefined) step.env = c.env(obj.env, `${at}.env`);
  if (obj.cwd !== undefined) {
    const cwd = c.line(obj.cwd, `${at}.cwd`, 'an absolute path like "/build/src"');
    if (cwd !== undefined && !cwd.startsWith("/")) {
      c.fail(`${at}.cwd`, `"${cwd}" is not an absolute path (did you mean "/build/${cwd}"?)`);
    } else if (cwd !== undefined) step.cwd = cwd;
  }
  if (obj.network !== undefined) {
    if (typeof obj.network === "boolean") step.network = obj.network;
    else c.expected(`${at}.network`, "true or false", obj.network);
  }
  if (obj.relaxSeccomp !== undefined) {
    const relax = checkRelaxSeccomp(c, obj.relaxSeccomp, `${at}.relaxSeccomp`);
    if (relax) step.relaxSeccomp = relax;
  }
  return name === undefined || run === undefined ? undefined : step;
}

function checkRelaxSeccomp(
  c: Checker,
  value: unknown,
  at: string,
): RecipeStep["relaxSeccomp"] | undefined {
  const example = '{ groups: ["personality"], reason: "the test suite runs setarch -R" }';
  const obj = c.object(value, at, example);
  if (!obj) return undefined;
  c.onlyFields(obj, at, ["groups", "reason"]);
  const list = c.array(obj.groups, `${at}.groups`, "an array of seccomp group names");
  const groups: string[] = [];
  list?.forEach((g, i) => {
    const name = c.string(g, `${at}.groups[${i}]`);
    if (name === undefined) return;
    if (!relaxableGroups().includes(name)) {
      const fixed = RULE_GROUPS.find((r) => r.name === name);
      c.fail(
        `${at}.groups[${i}]`,
        fixed
          ? `"${name}" cannot be relaxed (${fixed.why})`
          : `"${name}" is not a seccomp group; the groups are ${relaxableGroups().join(", ")}`,
      );
    } else groups.push(name);
  });
  if (list && list.length === 0) c.fail(`${at}.groups`, "is empty; leave relaxSeccomp out");
  const reason = c.line(obj.reason, `${at}.reason`, "one line saying why the step needs it");
  if (reason !== undefined && reason.trim() === "") c.fail(`${at}.reason`, "is only blanks");
  if (!list || groups.length !== list.length || reason === undefined) return undefined;
  return { groups, reason };
}

function checkOutputs(c: Checker, value: unknown): string[] | undefined {
  const list = c.array(value, "outputs", "an array of paths under /out");
  if (!list) return undefined;
  if (list.length === 0) return c.fail("outputs", "is empty; leave it out to keep all of /out");
  const outputs: string[] = [];
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    const at = `outputs[${i}]`;
    const path = c.line(item, at, 'a path under /out, like "/out/bin"');
    if (path === undefined) return;
    const parts = path.split("/");
    if (
      !path.startsWith("/") || parts.includes("..") || normalizePath(path).split("/")[1] !== "out"
    ) {
      c.fail(at, `"${path}" is not under /out: outputs are "/out" or paths below it`);
      return;
    }
    const normal = normalizePath(path);
    const first = seen.get(normal);
    if (first !== undefined) {
      c.fail(at, `"${path}" is already outputs[${first}]`);
      return;
    }
    seen.set(normal, i);
    outputs.push(normal);
  });
  return outputs;
}

/**
 * Checks a recipe file's default export and returns a copy holding only
 * the recipe's own fields, as written (defaults are not filled in here).
 * `file` names the recipe in messages. Throws RecipeError listing every
 * problem found.
 */
export function validateRecipe(value: unknown, file: string): Recipe {
  const c = new Checker();
  const obj = c.object(value, "", "a recipe object");
  if (!obj) throw new RecipeError(file, c.problems);
  c.onlyFields(obj, "", RECIPE_FIELDS);

  const name = c.string(obj.name, "name", { what: 'a package name like "hello"' });
  if (name !== undefined && !NAME.test(name)) {
    c.fail(
      "name",
      `"${name}" is not a package name: lowercase letters, digits, "+", ".", "_" and "-", ` +
        "starting with a letter or digit",
    );
  }
  const version = c.line(obj.version, "version", 'a version like "1.0"');
  let description: string | undefined;
  if (obj.description !== undefined) {
    description = c.string(obj.description, "description", { empty: true });
  }
  const base = checkBase(c, obj.base);

  let sources: RecipeSource[] | undefined;
  if (obj.sources !== undefined) {
    const list = c.array(obj.sources, "sources", "an array of sources");
    sources = [];
    const names = new Map<string, number>();
    for (const [i, item] of (list ?? []).entries()) {
      const source = checkSource(c, item, `sources[${i}]`);
      if (!source) continue;
      const dest = source.dest ?? defaultSourceDest(source);
      if (dest === undefined) {
        c.fail(`sources[${i}]`, 'no name to give it under /src can be taken from it; give "dest"');
        continue;
      }
      const first = names.get(dest);
      if (first !== undefined) {
        c.fail(
          `sources[${i}]`,
          `a second source named "${dest}" under /src (sources[${first}] is the first); ` +
            'give one a different "dest"',
        );
        continue;
      }
      names.set(dest, i);
      sources.push(source);
    }
  }

  let env: Record<string, string> | undefined;
  if (obj.env !== undefined) env = c.env(obj.env, "env");

  const steps: RecipeStep[] = [];
  const list = c.array(obj.steps, "steps", "an array of steps");
  if (list && list.length === 0) c.fail("steps", "is empty; a recipe needs at least one step");
  const stepNames = new Map<string, number>();
  for (const [i, item] of (list ?? []).entries()) {
    const step = checkStep(c, item, `steps[${i}]`);
    const stepName = isPlainObject(item) && typeof item.name === "string" ? item.name : undefined;
    if (stepName !== undefined) {
      const first = stepNames.get(stepName);
      if (first !== undefined) {
        c.fail(`steps[${i}].name`, `"${stepName}" is already the name of steps[${first}]`);
      } else stepNames.set(stepName, i);
    }
    if (step) steps.push(step);
  }

  let outputs: string[] | undefined;
  if (obj.outputs !== undefined) outputs = checkOutputs(c, obj.outputs);

  let sourceDateEpoch: number | undefined;
  if (obj.sourceDateEpoch !== undefined) {
    const epoch = obj.sourceDateEpoch;
    if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) {
      c.expected("sourceDateEpoch", "a whole number of seconds since 1970, 0 or more", epoch);
    } else sourceDateEpoch = epoch;
  }

  if (c.problems.length > 0) throw new RecipeError(file, c.problems);
  const recipe: Recipe = { name: name!, version: version!, base: base!, steps };
  if (description !== undefined) recipe.description = description;
  if (sources !== undefined) recipe.sources = sources;
  if (env !== undefined) recipe.env = env;
  if (outputs !== undefined) recipe.outputs = outputs;
  if (sourceDateEpoch !== undefined) recipe.sourceDateEpoch = sourceDateEpoch;
  return recipe;
}
