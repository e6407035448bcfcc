/**
 * Encodes a Plan into the flat buffer ffi/executor.h describes. The C side
 * validates it again before clone; this side refuses what it can name better
 * (a NUL inside a string, too many slots).
 */
import type { Op, Plan } from "./ops.ts";

export const PLAN_MAGIC = 0x5042534e;
export const PLAN_VERSION = 1;
const HEADER_SIZE = 32;
const OP_HEADER_SIZE = 20;
export const MAX_SLOTS = 256;

const FLAG_NO_NEW_PRIVS = 1;
const FLAG_NEW_SESSION = 2;
const FLAG_TERMINAL = 4;
const TREE_RECURSIVE = 1;
const TREE_READONLY = 2;
const TREE_NOSUID_NODEV = 4;
const OPTIONAL = 1;

export const OPCODES: Record<Op["op"], number> = {
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
};

/** The kernel's limit on a seccomp filter's length (BPF_MAXINSNS). */
export const MAX_FILTER_INSTRUCTIONS = 4096;
const FILTER_INSTRUCTION_SIZE = 8;

const STDIO_MODES = { read: 0, write: 1, append: 2 } as const;

export class PlanEncodingError extends Error {
  override name = "PlanEncodingError";
}

interface Fields {
  arg0: number;
  arg1: number;
  strings: string[];
}

function fields(op: Op): Fields {
  switch (op.op) {
    case "remove-on-exit":
    case "mkdir-p":
    case "mkfile-p":
    case "chdir":
      return { arg0: "mode" in op ? op.mode : 0, arg1: 0, strings: [op.path] };
    case "readonly":
    case "mask-file":
      return { arg0: 0, arg1: op.optional ? OPTIONAL : 0, strings: [op.path] };
    case "mount": {
      const flags = BigInt(op.flags);
      return {
        arg0: Number(flags & 0xffffffffn),
        arg1: Number(flags >> 32n),
        strings: [op.source, op.target, op.fstype, op.data],
      };
    }
    case "tree-clone":
      return {
        arg0: slot(op.slot),
        arg1: (op.recursive ? TREE_RECURSIVE : 0) | (op.readonly ? TREE_READONLY : 0) |
          (op.nosuidNodev ? TREE_NOSUID_NODEV : 0),
        strings: [op.source],
      };
    case "proc-mount":
      return { arg0: slot(op.slot), arg1: 0, strings: [] };
    case "pivot-root":
      return { arg0: 0, arg1: 0, strings: [op.newRoot] };
    case "move-mount":
      return { arg0: slot(op.slot), arg1: 0, strings: [op.target] };
    case "symlink":
      return { arg0: 0, arg1: 0, strings: [op.target, op.path] };
    case "hostname":
    case "domainname":
      return { arg0: 0, arg1: 0, strings: [op.name] };
    case "drop-caps": {
      if (op.keep < 0n || op.keep >= 1n << 64n) {
        throw new PlanEncodingError(`drop-caps: the mask ${op.keep} is not 64 bits`);
      }
      return {
        arg0: Number(op.keep & 0xffffffffn),
        arg1: Number(op.keep >> 32n),
        strings: [],
      };
    }
    case "seccomp": {
      const count = op.program.length / FILTER_INSTRUCTION_SIZE;
      if (!Number.isInteger(count) || count < 1 || count > MAX_FILTER_INSTRUCTIONS) {
        throw new PlanEncodingError(
          `seccomp: a filter of ${op.program.length} bytes is not 1 to ` +
            `${MAX_FILTER_INSTRUCTIONS} instructions of ${FILTER_INSTRUCTION_SIZE} bytes`,
        );
      }
      return { arg0: count, arg1: 0, strings: [hex(op.program)] };
    }
    case "time-offset":
      if (!Number.isInteger(op.seconds) || op.seconds < 0 || op.seconds > 0xffffffff) {
        throw new PlanEncodingError(`time-offset: ${op.seconds} is not a whole number of seconds`);
      }
      return { arg0: op.seconds, arg1: 0, strings: [] };
    case "loopback-up":
      return { arg0: 0, arg1: 0, strings: [] };
    case "umask":
      return { arg0: op.mask, arg1: 0, strings: [] };
    case "keep-fd":
      return { arg0: op.fd, arg1: 0, strings: [] };
    case "open-stdio":
      if (![0, 1, 2].includes(op.fd)) {
        throw new PlanEncodingError(`open-stdio: descriptor ${op.fd} is not 0, 1 or 2`);
      }
      return { arg0: op.fd, arg1: STDIO_MODES[op.mode], strings: [op.path] };
    case "exec":
      if (op.argv.length === 0) throw new PlanEncodingError("exec needs at least argv[0]");
      if (op.candidates.length === 0) {
        throw new PlanEncodingError(`no path to try for command "${op.argv[0]}"`);
      }
      return {
        arg0: op.argv.length,
        arg1: op.env.length,
        strings: [...op.candidates, ...op.argv, ...op.env],
      };
  }
}

function slot(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= MAX_SLOTS) {
    throw new PlanEncodingError(`mount slot ${n} is out of range (0..${MAX_SLOTS - 1})`);
  }
  return n;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
/** Filters are compiled once and reused: so is their text (2 ms cold otherwise). */
const hexCache = new WeakMap<Uint8Array, string>();

function hex(bytes: Uint8Array): string {
  let text = hexCache.get(bytes);
  if (text === undefined) {
    text = "";
    for (const b of bytes) text += HEX_BYTES[b];
    hexCache.set(bytes, text);
  }
  return text;
}

const utf8 = new TextEncoder();

function encodeStrings(strings: string[]): Uint8Array[] {
  return strings.map((s) => {
    if (s.includes("\0")) {
      throw new PlanEncodingError(
        `a NUL byte cannot be passed to the kernel: ${JSON.stringify(s)}`,
      );
    }
    return utf8.encode(s + "\0");
  });
}

export function encodePlan(plan: Plan): Uint8Array {
  const encoded = plan.ops.map((op) => {
    const f = fields(op);
    const strings = encodeStrings(f.strings);
    const raw = OP_HEADER_SIZE + strings.reduce((n, s) => n + s.length, 0);
    return { op, f, strings, size: (raw + 3) & ~3 };
  });
  const total = HEADER_SIZE + encoded.reduce((n, e) => n + e.size, 0);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, PLAN_MAGIC, true);
  view.setUint32(4, PLAN_VERSION, true);
  view.setUint32(8, total, true);
  view.setUint32(12, plan.ops.length, true);
  view.setUint32(16, plan.namespaces, true);
  view.setInt32(20, plan.usernsFd, true);
  view.setUint32(
    24,
    (plan.noNewPrivs ? FLAG_NO_NEW_PRIVS : 0) | (plan.newSession ? FLAG_NEW_SESSION : 0) |
      (plan.terminal ? FLAG_TERMINAL : 0),
    true,
  );
  let at = HEADER_SIZE;
  for (const e of encoded) {
    view.setUint32(at, OPCODES[e.op.op], true);
    view.setUint32(at + 4, e.size, true);
    view.setUint32(at + 8, e.f.arg0 >>> 0, true);
    view.setUint32(at + 12, e.f.arg1 >>> 0, true);
    view.setUint32(at + 16, e.strings.length, true);
    let s = at + OP_HEADER_SIZE;
    for (const str of e.strings) {
      bytes.set(str, s);
      s += str.length;
    }
    at += e.size;
  }
  return bytes;
}
