/** What the store-using commands share: the layout, a lazily loaded executor, progress on stderr. */
import { loadExecutor } from "../sandbox/executor_ffi.ts";
import type { Executor } from "../sandbox/executor.ts";
import { type StoreLayout, storeLayout } from "../store/layout.ts";
import { storeEnv, storeRoot } from "../store/root.ts";

export interface StoreContext {
  layout: StoreLayout;
  executor: () => Executor;
  progress: (line: string) => void;
}

export function storeContext(quiet = false): StoreContext {
  let executor: Executor | undefined;
  return {
    layout: storeLayout(storeRoot(storeEnv())),
    executor: () => executor ??= loadExecutor(),
    progress: quiet ? () => {} : (line) => console.error(`nsbuild: ${line}`),
  };
}
