import assert from "node:assert/strict";
import { findProgram, searchDirs, SYSTEM_DIRS } from "./which.ts";

Deno.test("findProgram() finds sh in the system directories and nothing for a made-up name", () => {
  const sh = findProgram("sh");
  assert.ok(sh && SYSTEM_DIRS.some((d) => sh === `${d}/sh`), `sh found at ${sh}`);
  assert.equal(findProgram("nsbuild-no-such-program-7f3a"), undefined);
});

Deno.test("findProgram() looks only in the directories it is given", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/tool`, "");
    assert.equal(findProgram("tool", [dir]), `${dir}/tool`);
    assert.equal(findProgram("tool"), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("searchDirs() puts PATH before the system directories", () => {
  const dirs = searchDirs();
  assert.deepEqual(dirs.slice(-SYSTEM_DIRS.length), SYSTEM_DIRS);
});
