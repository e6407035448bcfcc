/**
 * Runs sandboxes in a row from this one process, the way `nsbuild run` and
 * build steps do (runSandbox over the FFI executor), and reports on stdout,
 * as JSON, its open descriptors and resident memory after a warm-up and
 * again at the end. A process of its own, so that nothing else (other test
 * modules running in parallel) moves the figures.
 *
 *   deno run --allow-all tests/helpers/sandbox_loop.ts ROOTFS STORE WARMUP COUNT
 */
import { loadExecutor } from "../../src/sandbox/executor_ffi.ts";
import { runSandbox } from "../../src/sandbox/run.ts";
import { createRunDir } from "../../src/store/root.ts";
import { openDescriptors, residentBytes } from "./fault.ts";

export interface LoopReport {
  count: number;
  seconds: number;
  fdsBefore: number;
  fdsAfter: number;
  rssBefore: number;
  rssAfter: number;
}

async function loop(rootfs: string, store: string, warmup: number, count: number) {
  const executor = loadExecutor();
  const once = async (i: number) => {
    const result = await runSandbox({
      rootfs,
      runDir: createRunDir(store),
      binds: [],
      tmpfs: [],
      network: false,
      hostname: "fault",
      env: { PATH: "/bin" },
      cwd: "/",
      argv: ["/bin/sh", "-c", `exit ${i % 5}`],
      stdio: { stdin: "/dev/null", stdout: "/dev/null", stderr: "/dev/null" },
      terminal: false,
    }, executor);
    if (result.error) throw new Error(`sandbox ${i}: ${result.error.message}`);
    if (result.status !== i % 5) {
      throw new Error(`sandbox ${i}: status ${result.status}, expected ${i % 5}`);
    }
  };
  // Warm-up: the shared user namespace's descriptor, the JIT, the allocator's pools.
  for (let i = 0; i < warmup; i++) await once(i);
  const fdsBefore = openDescriptors();
  const rssBefore = residentBytes();
  const started = Date.now();
  for (let i = 0; i < count; i++) await once(i);
  const report: LoopReport = {
    count,
    seconds: (Date.now() - started) / 1000,
    fdsBefore,
    fdsAfter: openDescriptors(),
    rssBefore,
    rssAfter: residentBytes(),
  };
  return report;
}

if (import.meta.main) {
  const [rootfs, store, warmup, count] = Deno.args;
  if (!rootfs || !store || !warmup || !count) {
    console.error("usage: sandbox_loop.ts ROOTFS STORE WARMUP COUNT");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await loop(rootfs, store, Number(warmup), Number(count))));
}
