import assert from "node:assert/strict";
import { cachedFilter, compileFilter, policyText } from "./seccomp.ts";
import { denyRules } from "./seccomp_rules.ts";

function filesIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("policyText() differs for every set of relaxed groups, and names the architecture", () => {
  const texts = [[], ["keyring"], ["keyring", "bpf"], ["userns"]].map((g) =>
    policyText(denyRules(g))
  );
  assert.equal(new Set(texts).size, texts.length);
  assert.match(texts[0]!, new RegExp(`^nsbuild seccomp 1 ${Deno.build.arch}\\n`));
});

Deno.test("cachedFilter() stores the compiled program once and reads it back unchanged", () => {
  const dir = Deno.makeTempDirSync({ prefix: "nsbuild-filters-" });
  try {
    const rules = denyRules([]);
    const first = cachedFilter(rules, dir);
    assert.deepEqual(first, compileFilter(rules));
    const [name] = filesIn(dir);
    assert.match(name ?? "", /^[0-9a-f]{8}\.bpf$/);
    const stamp = Deno.statSync(`${dir}/${name}`).mtime?.getTime();
    assert.deepEqual(cachedFilter(rules, dir), first);
    assert.equal(Deno.statSync(`${dir}/${name}`).mtime?.getTime(), stamp, "rewritten on a hit");
    assert.deepEqual(filesIn(dir), [name]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cachedFilter() ignores a file whose policy is not exactly this one's", () => {
  const dir = Deno.makeTempDirSync({ prefix: "nsbuild-filters-" });
  try {
    const rules = denyRules([]);
    const good = cachedFilter(rules, dir);
    const [name] = filesIn(dir);
    // Same name, another policy: as if two policies' hashes collided.
    const other = new TextEncoder().encode(policyText(denyRules(["keyring"])));
    const forged = new Uint8Array(other.length + 1 + 8);
    forged.set(other);
    Deno.writeFileSync(`${dir}/${name}`, forged);
    assert.deepEqual(cachedFilter(rules, dir), good);
    // A truncated program is refused too.
    const bytes = Deno.readFileSync(`${dir}/${name}`);
    Deno.writeFileSync(`${dir}/${name}`, bytes.subarray(0, bytes.length - 3));
    assert.deepEqual(cachedFilter(rules, dir), good);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
