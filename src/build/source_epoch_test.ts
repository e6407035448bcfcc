import assert from "node:assert/strict";
import { changelogEpoch, pickEpoch } from "./source_epoch.ts";
import { DEFAULT_SOURCE_DATE_EPOCH } from "../recipe/types.ts";

const CHANGELOG = `hello (2.10-3) unstable; urgency=medium

  * Fix the build.

 -- Santiago Vila <sanvila@debian.org>  Sun, 14 Aug 2022 10:33:11 +0200

hello (2.10-2) unstable; urgency=low

 -- Santiago Vila <sanvila@debian.org>  Mon, 01 Jan 2018 00:00:00 +0000
`;

Deno.test("changelogEpoch() reads the latest entry's date, with its zone", () => {
  assert.equal(changelogEpoch(CHANGELOG), Date.UTC(2022, 7, 14, 8, 33, 11) / 1000);
});

Deno.test("changelogEpoch() gives nothing for text without a trailer line", () => {
  assert.equal(changelogEpoch("hello (1.0) unstable\n  * x\n"), undefined);
  assert.equal(changelogEpoch(" -- A <a@b>  not a date\n"), undefined);
});

Deno.test("pickEpoch() prefers the recipe, then the newest source, then the default", () => {
  const candidates = [
    { source: "a.tar.gz", how: "newest member", value: 100 },
    { source: "hello", how: "debian/changelog", value: 200 },
  ];
  assert.deepEqual(pickEpoch(5, candidates), { value: 5, from: "recipe" });
  assert.deepEqual(pickEpoch(undefined, candidates), {
    value: 200,
    from: "source hello: debian/changelog",
  });
  assert.deepEqual(pickEpoch(undefined, []), {
    value: DEFAULT_SOURCE_DATE_EPOCH,
    from: "default",
  });
});
