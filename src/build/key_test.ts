import assert from "node:assert/strict";
import { canonicalJson, stepKey, type StepKeyInput } from "./key.ts";

const input: StepKeyInput = {
  parent: "a".repeat(64),
  name: "build",
  argv: ["/bin/sh", "-ec", "make"],
  env: { A: "1", B: "2" },
  cwd: "/build",
  network: false,
  sources: { "hello": "b".repeat(64) },
};

Deno.test("canonicalJson() sorts object keys at every depth", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } }),
    '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}',
  );
});

Deno.test("stepKey() is the same for the same step written in another order", () => {
  assert.equal(stepKey(input), stepKey({ ...input, env: { B: "2", A: "1" } }));
});

Deno.test("stepKey() changes with each thing that can change what the step writes", () => {
  const base = stepKey(input);
  const variants: Partial<StepKeyInput>[] = [
    { parent: "c".repeat(64) },
    { name: "build2" },
    { argv: ["/bin/sh", "-ec", "make -j2"] },
    { env: { A: "1", B: "3" } },
    { cwd: "/build/x" },
    { network: true },
    { sources: { hello: "d".repeat(64) } },
    { sources: { other: "b".repeat(64) } },
  ];
  const keys = new Set(variants.map((v) => stepKey({ ...input, ...v })));
  assert.equal(keys.size, variants.length);
  assert.ok(!keys.has(base));
  assert.match(base, /^[0-9a-f]{64}$/);
});
