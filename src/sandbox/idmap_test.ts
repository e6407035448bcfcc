import assert from "node:assert/strict";
import {
  helperArgs,
  type MapLine,
  mapsId,
  mapText,
  MAX_SUBORDINATE,
  parseSubids,
  planIdMaps,
  ROOT_DEFAULT_RANGE,
  userNameFor,
} from "./idmap.ts";

const alice = { uid: 1000, gid: 1000, user: "alice" };

/** The host id an inside id maps to, as the kernel reads a map. */
function hostIdOf(lines: MapLine[], id: number): number | undefined {
  const line = lines.find((l) => id >= l.inside && id < l.inside + l.count);
  return line && line.outside + (id - line.inside);
}

Deno.test("parseSubids() finds a user's ranges by name, in file order", () => {
  const text = "bob:100000:65536\nalice:165536:65536\nalice:300000:10\n";
  assert.deepEqual(parseSubids(text, alice), [
    { start: 165536, count: 65536 },
    { start: 300000, count: 10 },
  ]);
});

Deno.test("parseSubids() finds a user's ranges by uid", () => {
  const text = "bob:100000:65536\n1000:231072:65536\n";
  assert.deepEqual(parseSubids(text, alice), [{ start: 231072, count: 65536 }]);
  assert.deepEqual(parseSubids(text, { uid: 1000, gid: 1000 }), [
    { start: 231072, count: 65536 },
  ]);
});

Deno.test("parseSubids() ignores comments, blank lines and surrounding spaces", () => {
  const text = "# alice:1:2\n\n   \n  alice:100000:65536  \n#alice:5:5\n";
  assert.deepEqual(parseSubids(text, alice), [{ start: 100000, count: 65536 }]);
});

Deno.test("parseSubids() skips malformed lines", () => {
  const text = [
    "alice:100000",
    "alice:100000:65536:extra",
    "alice:abc:65536",
    "alice:100000:6x",
    "alice:-1:65536",
    "alice:1e5:65536",
    "alice::65536",
    "alice:200000:500",
  ].join("\n");
  assert.deepEqual(parseSubids(text, alice), [{ start: 200000, count: 500 }]);
});

Deno.test("parseSubids() skips ranges with a zero count", () => {
  const text = "alice:100000:0\nalice:200000:1\n";
  assert.deepEqual(parseSubids(text, alice), [{ start: 200000, count: 1 }]);
});

Deno.test("parseSubids() matches neither a prefix of the name nor another uid", () => {
  const text = "alicia:100000:65536\nali:200000:65536\n10000:300000:65536\n";
  assert.deepEqual(parseSubids(text, alice), []);
  assert.deepEqual(parseSubids("", alice), []);
});

Deno.test("planIdMaps() maps 0 to the user and 1.. to the first subordinate range", () => {
  const plan = planIdMaps(
    { uid: 1000, gid: 1001, user: "alice" },
    "alice:100000:65536\n",
    "alice:200000:65536\n",
  );
  assert.deepEqual(plan, {
    mode: "subordinate",
    uidMap: [
      { inside: 0, outside: 1000, count: 1 },
      { inside: 1, outside: 100000, count: 65536 },
    ],
    gidMap: [
      { inside: 0, outside: 1001, count: 1 },
      { inside: 1, outside: 200000, count: 65536 },
    ],
    writer: "helpers",
    setgroups: "allow",
  });
});

Deno.test("planIdMaps() maps at most 65536 subordinate ids, and fewer when the range is small", () => {
  const plan = planIdMaps(alice, "alice:100000:1000000\n", "alice:200000:500\n");
  assert.deepEqual(plan.uidMap[1], { inside: 1, outside: 100000, count: MAX_SUBORDINATE });
  assert.equal(MAX_SUBORDINATE, 65536);
  assert.deepEqual(plan.gidMap[1], { inside: 1, outside: 200000, count: 500 });
});

Deno.test("planIdMaps() reads /etc/subgid by user, not by group", () => {
  const plan = planIdMaps({ uid: 1000, gid: 50, user: "alice" }, "alice:1:2\n", "alice:300:4\n");
  assert.deepEqual(plan.gidMap, [
    { inside: 0, outside: 50, count: 1 },
    { inside: 1, outside: 300, count: 4 },
  ]);
});

Deno.test("planIdMaps() without subordinate ids maps only root, denies setgroups and warns", () => {
  const plan = planIdMaps(alice, "bob:100000:65536\n", "");
  assert.equal(plan.mode, "single");
  assert.deepEqual(plan.uidMap, [{ inside: 0, outside: 1000, count: 1 }]);
  assert.deepEqual(plan.gidMap, [{ inside: 0, outside: 1000, count: 1 }]);
  assert.equal(plan.writer, "direct");
  assert.equal(plan.setgroups, "deny");
  assert.ok(plan.warning);
  assert.match(plan.warning, /usermod --add-subuids/);
  assert.match(plan.warning, /--add-subgids/);
  assert.match(plan.warning, /for alice in \/etc\/subuid and \/etc\/subgid/);
  assert.ok(plan.warning.trimEnd().endsWith("alice`; run `nsbuild doctor`"), plan.warning);
});

Deno.test("planIdMaps() falls back to a single map when only one of the files has a range", () => {
  const noGids = planIdMaps(alice, "alice:100000:65536\n", "");
  assert.equal(noGids.mode, "single");
  assert.equal(noGids.setgroups, "deny");
  assert.match(noGids.warning ?? "", /in \/etc\/subgid:/);
  assert.doesNotMatch(noGids.warning ?? "", /\/etc\/subuid/);
  const noUids = planIdMaps(alice, "", "alice:100000:65536\n");
  assert.equal(noUids.mode, "single");
  assert.match(noUids.warning ?? "", /in \/etc\/subuid:/);
  assert.doesNotMatch(noUids.warning ?? "", /\/etc\/subgid/);
});

Deno.test("planIdMaps() names the uid in the warning when the user has no name", () => {
  const plan = planIdMaps({ uid: 1234, gid: 1234 }, "", "");
  assert.match(plan.warning ?? "", /no subordinate ids for 1234 /);
  assert.match(plan.warning ?? "", /--add-subgids 100000-165535 1234`/);
});

Deno.test("planIdMaps() for root with its own range maps every id into that range", () => {
  const root = { uid: 0, gid: 0, user: "root" };
  const plan = planIdMaps(root, "root:500000:65537\n", "root:600000:70000\n");
  assert.deepEqual(plan, {
    mode: "subordinate",
    uidMap: [{ inside: 0, outside: 500000, count: 65537 }],
    gidMap: [{ inside: 0, outside: 600000, count: MAX_SUBORDINATE + 1 }],
    writer: "direct",
    setgroups: "allow",
  });
  assert.equal(plan.warning, undefined);
  assert.equal(hostIdOf(plan.uidMap, 0), 500000);
  assert.equal(hostIdOf(plan.uidMap, 65536), 565536);
  assert.equal(hostIdOf(plan.uidMap, 65537), undefined);
});

Deno.test("planIdMaps() for root without a range uses the default range, never host 0", () => {
  const plan = planIdMaps({ uid: 0, gid: 0, user: "root" }, "alice:100000:65536\n", "");
  assert.deepEqual(plan.uidMap, [
    { inside: 0, outside: ROOT_DEFAULT_RANGE.start, count: ROOT_DEFAULT_RANGE.count },
  ]);
  assert.deepEqual(plan.gidMap, plan.uidMap);
  assert.equal(ROOT_DEFAULT_RANGE.start, 1879048192);
  assert.equal(plan.writer, "direct");
  assert.equal(plan.warning, undefined);
  assert.equal(hostIdOf(plan.uidMap, 0), ROOT_DEFAULT_RANGE.start);
  assert.equal(hostIdOf(plan.gidMap, 0), ROOT_DEFAULT_RANGE.start);
  assert.ok(mapsId(plan.gidMap, 5));
  assert.ok(mapsId(plan.uidMap, 65534));
});

Deno.test("planIdMaps() finds root's range by uid 0 too", () => {
  const plan = planIdMaps({ uid: 0, gid: 0 }, "0:700000:65537\n", "0:700000:65537\n");
  assert.deepEqual(plan.uidMap, [{ inside: 0, outside: 700000, count: 65537 }]);
});

Deno.test("mapText() writes one 'inside outside count' line per map line", () => {
  assert.equal(
    mapText([
      { inside: 0, outside: 1000, count: 1 },
      { inside: 1, outside: 100000, count: 65536 },
    ]),
    "0 1000 1\n1 100000 65536\n",
  );
  assert.equal(mapText([]), "");
});

Deno.test("helperArgs() puts the pid first, then each line's triple", () => {
  assert.deepEqual(
    helperArgs(4242, [
      { inside: 0, outside: 1000, count: 1 },
      { inside: 1, outside: 100000, count: 65536 },
    ]),
    ["4242", "0", "1000", "1", "1", "100000", "65536"],
  );
});

Deno.test("mapsId() says whether an inside id falls within a map line", () => {
  const lines = [
    { inside: 0, outside: 1000, count: 1 },
    { inside: 1, outside: 100000, count: 10 },
  ];
  assert.equal(mapsId(lines, 0), true);
  assert.equal(mapsId(lines, 5), true);
  assert.equal(mapsId(lines, 10), true);
  assert.equal(mapsId(lines, 11), false);
  assert.equal(mapsId([{ inside: 0, outside: 1000, count: 1 }], 5), false);
  assert.equal(mapsId([], 0), false);
});

Deno.test("userNameFor() finds the login name by uid in passwd text", () => {
  const passwd = [
    "root:x:0:0:root:/root:/bin/bash",
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash",
    "al:x:10000:10000::/home/al:/bin/sh",
  ].join("\n");
  assert.equal(userNameFor(passwd, 1000), "alice");
  assert.equal(userNameFor(passwd, 0), "root");
  assert.equal(userNameFor(passwd, 10000), "al");
  assert.equal(userNameFor(passwd, 100), undefined);
  assert.equal(userNameFor("", 0), undefined);
});

Deno.test("userNameFor() matches the uid field, not the gid field", () => {
  assert.equal(userNameFor("bob:x:1001:1000::/home/bob:/bin/sh\n", 1000), undefined);
});
