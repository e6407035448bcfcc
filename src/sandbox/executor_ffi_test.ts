import assert from "node:assert/strict";
import {
  bindExecutor,
  checkoutLibraryPath,
  ExecutorLoadError,
  FfiExecutor,
  openFromBytes,
} from "./executor_ffi.ts";
import { encodePlan } from "./encode.ts";

Deno.test("openFromBytes() loads the executor from a memfd, as a compiled nsbuild does", () => {
  const bytes = Deno.readFileSync(checkoutLibraryPath());
  const lib = openFromBytes(bytes);
  try {
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

Deno.test("bindExecutor() names the ABI of a library too old to have nsb_call", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsbuild-old-abi-" });
  try {
    await Deno.writeTextFile(`${dir}/old.c`, "int nsb_abi_version(void) { return 4; }\n");
    const cc = await new Deno.Command("cc", {
      args: ["-shared", "-fPIC", "-o", `${dir}/old.so`, `${dir}/old.c`],
      stderr: "inherit",
    }).output();
    assert.ok(cc.success, "cc could not build the stand-in library");
    assert.throws(
      () => bindExecutor(`${dir}/old.so`),
      (e: Error) =>
        e instanceof ExecutorLoadError && /speaks ABI 4, nsbuild expects 5/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
