import assert from "node:assert/strict";
import {
  encodePlan,
  MAX_SLOTS,
  OPCODES,
  PLAN_MAGIC,
  PLAN_VERSION,
  PlanEncodingError,
} from "./encode.ts";
import { loadExecutor } from "./executor_ffi.ts";
import { CLONE, MS, type Op, type Plan } from "./ops.ts";
import { planSandbox } from "./plan.ts";
import type { SandboxSpec } from "./spec.ts";

const EINVAL = 22;
const ENOSYS = 38;
const EPROTO = 71;

/** One BPF instruction, "return ALLOW": a filter the kernel would take. */
const ALLOW_ALL = new Uint8Array([0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f]);

function spec(overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    rootfs: "/store/bases/debian",
    runDir: "/store/runs/1-x",
    binds: [
      { source: "/home/u/src", target: "/src", readonly: true, directory: true },
      { source: "/home/u/out", target: "/out", readonly: false, directory: true },
    ],
    tmpfs: ["/var/tmp"],
    network: false,
    hostname: "nsbuild",
    env: { PATH: "/usr/bin:/bin", HOME: "/root", LANG: "C.UTF-8" },
    cwd: "/",
    argv: ["sh", "-c", "echo héllo"],
    ttyGroupMapped: true,
    usernsFd: -1,
    seccompProgram: ALLOW_ALL,
    ...overrides,
  };
}

function plan(ops: Op[], extra: Partial<Plan> = {}): Plan {
  return {
    namespaces: CLONE.NEWNS,
    usernsFd: -1,
    noNewPrivs: false,
    newSession: false,
    terminal: false,
    ops,
    ...extra,
  };
}

const EXEC: Op = { op: "exec", candidates: ["/bin/true"], argv: ["true"], env: [] };

interface DecodedOp {
  offset: number;
  opcode: number;
  size: number;
  arg0: number;
  arg1: number;
  strings: string[];
  /** Bytes after the last string's NUL, up to the op's size. */
  padding: Uint8Array;
}

/** Reads an encoded plan back, independently of encode.ts. */
function decode(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = {
    magic: view.getUint32(0, true),
    version: view.getUint32(4, true),
    total: view.getUint32(8, true),
    count: view.getUint32(12, true),
    namespaces: view.getUint32(16, true),
    usernsFd: view.getInt32(20, true),
    flags: view.getUint32(24, true),
    reserved: view.getUint32(28, true),
  };
  const ops: DecodedOp[] = [];
  let at = 32;
  for (let i = 0; i < header.count; i++) {
    const size = view.getUint32(at + 4, true);
    const nstr = view.getUint32(at + 16, true);
    const strings: string[] = [];
    let s = at + 20;
    for (let j = 0; j < nstr; j++) {
      const nul = bytes.indexOf(0, s);
      assert.ok(nul >= 0 && nul < at + size, `string ${j} of op ${i} ends inside the op`);
      strings.push(new TextDecoder().decode(bytes.subarray(s, nul)));
      s = nul + 1;
    }
    ops.push({
      offset: at,
      opcode: view.getUint32(at, true),
      size,
      arg0: view.getUint32(at + 8, true),
      arg1: view.getUint32(at + 12, true),
      strings,
      padding: bytes.subarray(s, at + size),
    });
    at += size;
  }
  return { header, ops, end: at };
}

Deno.test("encodePlan() writes the header: magic, version, length, op count, flags", () => {
  const p = planSandbox(spec());
  const bytes = encodePlan(p);
  const { header } = decode(bytes);
  assert.equal(header.magic, 0x5042534e);
  assert.equal(PLAN_MAGIC, 0x5042534e);
  assert.deepEqual([...bytes.subarray(0, 4)], [..."NSBP"].map((c) => c.charCodeAt(0)));
  assert.equal(header.version, PLAN_VERSION);
  assert.equal(header.version, 1);
  assert.equal(header.total, bytes.length);
  assert.equal(header.count, p.ops.length);
  assert.equal(header.namespaces, p.namespaces);
  assert.equal(header.usernsFd, -1);
  assert.equal(header.flags, 1 | 2);
  assert.equal(header.reserved, 0);
});

Deno.test("encodePlan() encodes the no_new_privs, new-session and terminal flags separately", () => {
  const flags = (extra: Partial<Plan>) => decode(encodePlan(plan([EXEC], extra))).header.flags;
  assert.equal(flags({ noNewPrivs: false, newSession: false }), 0);
  assert.equal(flags({ noNewPrivs: true, newSession: false }), 1);
  assert.equal(flags({ noNewPrivs: false, newSession: true }), 2);
  assert.equal(flags({ terminal: true }), 4);
  assert.equal(flags({ noNewPrivs: true, newSession: true, terminal: true }), 7);
  assert.equal(decode(encodePlan(plan([EXEC], { usernsFd: 9 }))).header.usernsFd, 9);
});

Deno.test("encodePlan() lays ops out back to back, each a multiple of 4 bytes", () => {
  const p = planSandbox(spec());
  const bytes = encodePlan(p);
  const { ops, end } = decode(bytes);
  assert.equal(end, bytes.length);
  assert.equal(ops.length, p.ops.length);
  ops.forEach((d, i) => {
    const op = p.ops[i]!;
    assert.equal(d.opcode, OPCODES[op.op], `opcode of op ${i} (${op.op})`);
    assert.equal(d.size % 4, 0, `size of op ${i}`);
    const raw = 20 + d.strings.reduce((n, s) => n + new TextEncoder().encode(s).length + 1, 0);
    assert.equal(d.size, Math.ceil(raw / 4) * 4, `size of op ${i}`);
    assert.ok(d.padding.length < 4);
    assert.ok(d.padding.every((b) => b === 0), `padding of op ${i} is zero`);
  });
});

Deno.test("encodePlan() uses the opcodes of ffi/executor.h", () => {
  assert.deepEqual(OPCODES, {
    "remove-on-exit": 1,
    "mount": 2,
    "tree-clone": 3,
    "proc-mount": 4,
    "pivot-root": 5,
    "mkdir-p": 6,
    "mkfile-p": 7,
    "move-mount": 8,
    "symlink": 9,
    "readonly": 10,
    "mask-file": 11,
    "hostname": 12,
    "loopback-up": 13,
    "chdir": 14,
    "umask": 15,
    "keep-fd": 16,
    "exec": 17,
    "open-stdio": 18,
    "drop-caps": 19,
    "seccomp": 20,
    "time-offset": 21,
    "domainname": 22,
  });
});

Deno.test("encodePlan() writes each op's strings NUL-terminated, in field order", () => {
  const ops: Op[] = [
    { op: "remove-on-exit", path: "/run/x" },
    {
      op: "mount",
      source: "tmpfs",
      target: "/tmp",
      fstype: "tmpfs",
      data: "mode=1777",
      flags: MS.NOSUID | MS.NODEV,
    },
    { op: "symlink", target: "/proc/self/fd", path: "/dev/fd" },
    { op: "hostname", name: "hôte" },
    { op: "loopback-up" },
    { op: "exec", candidates: ["/a/sh", "/b/sh"], argv: ["sh", "-c", "x"], env: ["A=1"] },
  ];
  const bytes = encodePlan(plan(ops));
  const { ops: d } = decode(bytes);
  assert.deepEqual(d.map((o) => o.strings), [
    ["/run/x"],
    ["tmpfs", "/tmp", "tmpfs", "mode=1777"],
    ["/proc/self/fd", "/dev/fd"],
    ["hôte"],
    [],
    ["/a/sh", "/b/sh", "sh", "-c", "x", "A=1"],
  ]);
  // "/run/x" is 6 bytes and its NUL the 7th: one byte of padding to 28.
  assert.equal(d[0]!.size, 28);
  assert.equal(bytes[d[0]!.offset + 20 + 6], 0);
  // An op without strings is just its 20-byte header.
  assert.equal(d[4]!.size, 20);
  // UTF-8, not UTF-16: "hôte" is 5 bytes, 6 with its NUL.
  assert.equal(d[3]!.size, 28);
});

Deno.test("encodePlan() puts argc and envc in exec's arguments", () => {
  const { ops } = decode(encodePlan(plan([
    { op: "exec", candidates: ["/a/sh", "/b/sh"], argv: ["sh", "-c", "x"], env: ["A=1", "B=2"] },
  ])));
  assert.equal(ops[0]!.arg0, 3);
  assert.equal(ops[0]!.arg1, 2);
  assert.equal(ops[0]!.strings.length, 2 + 3 + 2);
});

Deno.test("encodePlan() splits mount flags into low and high words", () => {
  const { ops } = decode(encodePlan(plan([
    { op: "mount", source: "", target: "/", fstype: "", data: "", flags: MS.REC | MS.PRIVATE },
    { op: "mount", source: "a", target: "/b", fstype: "", data: "", flags: 2 ** 33 + 5 },
    EXEC,
  ])));
  assert.equal(ops[0]!.arg0, MS.REC | MS.PRIVATE);
  assert.equal(ops[0]!.arg1, 0);
  assert.equal(ops[1]!.arg0, 5);
  assert.equal(ops[1]!.arg1, 2);
});

Deno.test("encodePlan() encodes tree-clone bits, slots, modes and optional flags", () => {
  const { ops } = decode(encodePlan(plan([
    {
      op: "tree-clone",
      slot: 3,
      source: "/s",
      recursive: true,
      readonly: false,
      nosuidNodev: true,
    },
    {
      op: "tree-clone",
      slot: 4,
      source: "/t",
      recursive: false,
      readonly: true,
      nosuidNodev: false,
    },
    { op: "proc-mount", slot: 0 },
    { op: "move-mount", slot: 255, target: "/x" },
    { op: "mkdir-p", path: "/tmp", mode: 0o1777 },
    { op: "mkfile-p", path: "/f", mode: 0o644 },
    { op: "readonly", path: "/proc/sys", optional: true },
    { op: "mask-file", path: "/proc/kcore", optional: false },
    { op: "umask", mask: 0o022 },
    { op: "keep-fd", fd: 5 },
    EXEC,
  ])));
  assert.deepEqual(ops.map((o) => [o.arg0, o.arg1]), [
    [3, 1 | 4],
    [4, 2],
    [0, 0],
    [255, 0],
    [0o1777, 0],
    [0o644, 0],
    [0, 1],
    [0, 0],
    [0o022, 0],
    [5, 0],
    [1, 0],
  ]);
});

Deno.test("encodePlan() refuses a NUL byte inside a string", () => {
  const cases: Op[] = [
    { op: "mkdir-p", path: "/a\0b", mode: 0o755 },
    { op: "hostname", name: "x\0" },
    { op: "exec", candidates: ["/bin/sh"], argv: ["sh", "-c", "a\0b"], env: [] },
    { op: "exec", candidates: ["/bin/sh"], argv: ["sh"], env: ["A=\0"] },
  ];
  for (const op of cases) {
    assert.throws(() => encodePlan(plan([op, EXEC])), (e: unknown) => {
      assert.ok(e instanceof PlanEncodingError, `PlanEncodingError for ${JSON.stringify(op)}`);
      assert.match(e.message, /NUL byte/);
      return true;
    });
  }
});

Deno.test("encodePlan() refuses mount slots outside 0..255", () => {
  assert.equal(MAX_SLOTS, 256);
  const bad: Op[] = [
    { op: "proc-mount", slot: 256 },
    { op: "proc-mount", slot: -1 },
    { op: "move-mount", slot: 1.5, target: "/x" },
    {
      op: "tree-clone",
      slot: 1000,
      source: "/s",
      recursive: true,
      readonly: true,
      nosuidNodev: true,
    },
  ];
  for (const op of bad) {
    assert.throws(() => encodePlan(plan([op, EXEC])), (e: unknown) => {
      assert.ok(e instanceof PlanEncodingError, `PlanEncodingError for ${JSON.stringify(op)}`);
      assert.match(e.message, /out of range \(0\.\.255\)/);
      return true;
    });
  }
  assert.doesNotThrow(() => encodePlan(plan([{ op: "proc-mount", slot: 255 }, EXEC])));
});

Deno.test("encodePlan() refuses an exec without argv or without candidates", () => {
  assert.throws(
    () => encodePlan(plan([{ op: "exec", candidates: ["/bin/x"], argv: [], env: [] }])),
    PlanEncodingError,
  );
  assert.throws(
    () => encodePlan(plan([{ op: "exec", candidates: [], argv: ["x"], env: [] }])),
    (e: unknown) => e instanceof PlanEncodingError && /"x"/.test(e.message),
  );
});

// Round trips through the C validator (nsb_validate in ffi/plan.c).

function validate(bytes: Uint8Array): number {
  return loadExecutor().validate(bytes);
}

function setU32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(at, value, true);
  return copy;
}

Deno.test("nsb_validate() accepts what planSandbox() and encodePlan() produce", () => {
  const specs: Partial<SandboxSpec>[] = [
    {},
    { network: true, ttyGroupMapped: false, binds: [], tmpfs: [] },
    { argv: ["/usr/bin/env"], env: {} },
    { usernsFd: 5 },
  ];
  for (const s of specs) {
    assert.equal(validate(encodePlan(planSandbox(spec(s)))), 0, JSON.stringify(s));
  }
});

Deno.test("nsb_validate() accepts every opcode when exec comes last", () => {
  const ops: Op[] = [
    { op: "remove-on-exit", path: "/r" },
    { op: "mount", source: "", target: "/", fstype: "", data: "", flags: 0 },
    { op: "tree-clone", slot: 1, source: "/s", recursive: true, readonly: true, nosuidNodev: true },
    { op: "proc-mount", slot: 0 },
    { op: "pivot-root", newRoot: "/r/root" },
    { op: "mkdir-p", path: "/d", mode: 0o755 },
    { op: "mkfile-p", path: "/f", mode: 0o644 },
    { op: "move-mount", slot: 1, target: "/d" },
    { op: "symlink", target: "a", path: "/b" },
    { op: "readonly", path: "/proc/sys", optional: true },
    { op: "mask-file", path: "/proc/kcore", optional: true },
    { op: "hostname", name: "h" },
    { op: "loopback-up" },
    { op: "chdir", path: "/" },
    { op: "umask", mask: 0o22 },
    { op: "keep-fd", fd: 3 },
    { op: "open-stdio", fd: 1, path: "/run/out.fifo", mode: "append" },
    { op: "drop-caps", keep: 0xffn },
    { op: "seccomp", program: ALLOW_ALL },
    { op: "time-offset", seconds: 3600 },
    { op: "domainname", name: "(none)" },
    EXEC,
  ];
  assert.equal(new Set(ops.map((o) => o.op)).size, Object.keys(OPCODES).length);
  assert.equal(validate(encodePlan(plan(ops))), 0);
});

Deno.test("nsb_validate() refuses open-stdio onto a descriptor above 2", () => {
  const bytes = encodePlan(plan([{ op: "open-stdio", fd: 1, path: "/f", mode: "read" }, EXEC]));
  // The op's arg0 sits 8 bytes into its header, right after the plan header.
  new DataView(bytes.buffer).setUint32(32 + 8, 3, true);
  assert.equal(validate(bytes), -22);
  assert.throws(
    () => encodePlan(plan([{ op: "open-stdio", fd: 3 as 1, path: "/f", mode: "read" }, EXEC])),
    /descriptor 3 is not 0, 1 or 2/,
  );
});

Deno.test("nsb_validate() refuses a bad magic with -EINVAL", () => {
  const bytes = encodePlan(planSandbox(spec()));
  assert.equal(validate(setU32(bytes, 0, 0x12345678)), -EINVAL);
});

Deno.test("nsb_validate() refuses another version with -EPROTO", () => {
  const bytes = encodePlan(planSandbox(spec()));
  assert.equal(validate(setU32(bytes, 4, 2)), -EPROTO);
  assert.equal(validate(setU32(bytes, 4, 0)), -EPROTO);
});

Deno.test("nsb_validate() accepts the terminal flag and refuses flags it does not know", () => {
  assert.equal(validate(encodePlan(plan([EXEC], { terminal: true }))), 0);
  const bytes = encodePlan(planSandbox(spec()));
  assert.equal(validate(setU32(bytes, 24, 1 | 2 | 4)), 0);
  assert.equal(validate(setU32(bytes, 24, 8)), -EINVAL);
  assert.equal(validate(setU32(bytes, 24, 0x80000000)), -EINVAL);
});

Deno.test("nsb_validate() refuses a truncated plan", () => {
  const bytes = encodePlan(planSandbox(spec()));
  // The header's length no longer matches.
  assert.equal(validate(bytes.subarray(0, bytes.length - 4)), -EINVAL);
  // The header's length matches, but the last op runs past the end.
  const cut = setU32(bytes, 8, bytes.length - 4).subarray(0, bytes.length - 4);
  assert.equal(validate(cut), -EINVAL);
  // Shorter than a header.
  assert.equal(validate(bytes.subarray(0, 16)), -EINVAL);
  // Fewer ops than the header counts.
  assert.equal(validate(setU32(bytes, 12, decode(bytes).header.count + 1)), -EINVAL);
});

Deno.test("nsb_validate() refuses an unknown opcode with -ENOSYS", () => {
  const bytes = encodePlan(planSandbox(spec()));
  const { ops } = decode(bytes);
  assert.equal(validate(setU32(bytes, ops[3]!.offset, 99)), -ENOSYS);
  assert.equal(validate(setU32(bytes, ops[0]!.offset, 0)), -ENOSYS);
});

Deno.test("nsb_validate() refuses a plan where exec is not last, or missing", () => {
  const hostname: Op = { op: "hostname", name: "h" };
  assert.equal(validate(encodePlan(plan([hostname, EXEC]))), 0);
  assert.equal(validate(encodePlan(plan([EXEC, hostname]))), -EINVAL);
  assert.equal(validate(encodePlan(plan([EXEC, EXEC]))), -EINVAL);
  assert.equal(validate(encodePlan(plan([hostname]))), -EINVAL);
});

Deno.test("nsb_validate() refuses a string that runs past its op", () => {
  // "abc" and its NUL fill the op exactly: no padding NUL to fall back on.
  const bytes = encodePlan(plan([{ op: "hostname", name: "abc" }, EXEC]));
  const { ops } = decode(bytes);
  assert.equal(ops[0]!.size, 24);
  const broken = bytes.slice();
  broken[ops[0]!.offset + 23] = 0x78;
  assert.equal(validate(broken), -EINVAL);
  // An op claiming more strings than it holds.
  assert.equal(validate(setU32(bytes, ops[0]!.offset + 16, 2)), -EINVAL);
});

Deno.test("nsb_validate() refuses bad op sizes and out-of-range slots", () => {
  const bytes = encodePlan(planSandbox(spec()));
  const { ops } = decode(bytes);
  assert.equal(validate(setU32(bytes, ops[1]!.offset + 4, ops[1]!.size + 2)), -EINVAL);
  assert.equal(validate(setU32(bytes, ops[1]!.offset + 4, 16)), -EINVAL);
  const proc = decode(bytes).ops.find((o) => o.opcode === OPCODES["proc-mount"])!;
  assert.equal(validate(setU32(bytes, proc.offset + 8, 256)), -EINVAL);
  assert.equal(validate(encodePlan(plan([{ op: "keep-fd", fd: 2 }, EXEC]))), -EINVAL);
});
