import assert from "node:assert/strict";
import {
  checkoutLibraryPath,
  EXECUTOR_ABI_VERSION,
  FfiExecutor,
  openFromBytes,
} from "./executor_ffi.ts";
import { encodePlan } from "./encode.ts";

Deno.test("openFromBytes() loads the executor from a memfd, as a compiled nsbuild does", () => {
  const bytes = Deno.readFileSync(checkoutLibraryPath());
  const lib = openFromBytes(bytes);
  try {
    assert.equal(lib.symbols.nsb_abi_version(), EXECUTOR_ABI_VERSION);
    const executor = new FfiExecutor(lib);
    const plan = encodePlan({
      namespaces: 0,
      usernsFd: -1,
      noNewPrivs: true,
      newSession: true,
      terminal: false,
      ops: [{ op: "exec", candidates: ["/bin/true"], argv: ["true"], env: [] }],
    });
    assert.equal(executor.validate(plan), 0);
    assert.equal(executor.validate(plan.subarray(0, plan.length - 4)), -22);
  } finally {
    lib.close();
  }
});

Deno.test("openFromBytes() refuses bytes that are not a shared library", () => {
  assert.throws(() => openFromBytes(new TextEncoder().encode("not an ELF file")));
});
