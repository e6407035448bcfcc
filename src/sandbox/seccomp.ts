/**
 * Compiles the seccomp policy (seccomp_rules.ts) into a BPF program with
 * Debian's libseccomp, through FFI: libseccomp knows every architecture's
 * system call numbers and how to compare 64-bit arguments, which a
 * hand-written filter would get wrong sooner or later. The executor
 * installs the bytes as the command's last step before exec.
 */
import { type DenyRule, denyRules } from "./seccomp_rules.ts";

export const LIBSECCOMP = "libseccomp.so.2";

const SYMBOLS = {
  seccomp_init: { parameters: ["u32"], result: "pointer" },
  seccomp_release: { parameters: ["pointer"], result: "void" },
  seccomp_arch_native: { parameters: [], result: "u32" },
  seccomp_arch_add: { parameters: ["pointer", "u32"], result: "i32" },
  seccomp_syscall_resolve_name: { parameters: ["buffer"], result: "i32" },
  seccomp_rule_add_array: {
    parameters: ["pointer", "u32", "i32", "u32", "buffer"],
    result: "i32",
  },
  seccomp_export_bpf: { parameters: ["pointer", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const LIBC = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const SCMP_ACT_ALLOW = 0x7fff0000;
const SCMP_ACT_ERRNO = 0x00050000;
const SCMP_CMP_MASKED_EQ = 7;
const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const MFD_CLOEXEC = 1;
const SEEK_SET = 0;
/** struct scmp_arg_cmp: u32 arg, u32 op, u64 datum_a (mask), u64 datum_b (value). */
const ARG_CMP_SIZE = 24;

export class SeccompUnavailableError extends Error {
  override name = "SeccompUnavailableError";
  readonly hint =
    "install libseccomp2 (apt-get install libseccomp2), or pass --no-seccomp to run without the " +
    "system call filter (the manifest then says so); `nsbuild doctor` checks this";
}

type Library = Deno.DynamicLibrary<typeof SYMBOLS>;

let library: Library | undefined;

function openLibseccomp(): Library {
  if (library) return library;
  try {
    library = Deno.dlopen(LIBSECCOMP, SYMBOLS);
  } catch (e) {
    throw new SeccompUnavailableError(
      `cannot load ${LIBSECCOMP} for the default seccomp filter: ${(e as Error).message}`,
    );
  }
  return library;
}

const utf8 = new TextEncoder();

function argArray(rule: DenyRule): Uint8Array {
  const bytes = new Uint8Array(Math.max(1, rule.match.length) * ARG_CMP_SIZE);
  const view = new DataView(bytes.buffer);
  rule.match.forEach((m, i) => {
    const at = i * ARG_CMP_SIZE;
    view.setUint32(at, m.arg, true);
    view.setUint32(at + 4, SCMP_CMP_MASKED_EQ, true);
    view.setBigUint64(at + 8, m.mask, true);
    view.setBigUint64(at + 16, m.value, true);
  });
  return bytes;
}

/** Reads what libseccomp wrote into a memfd (Deno has no raw-fd API of its own). */
function exportProgram(lib: Library, ctx: Deno.PointerValue): Uint8Array {
  const libc = Deno.dlopen("libc.so.6", LIBC);
  const fd = libc.symbols.memfd_create(utf8.encode("nsbuild-seccomp\0"), MFD_CLOEXEC);
  try {
    if (fd < 0) throw new SeccompUnavailableError("memfd_create failed while exporting the filter");
    const rc = lib.symbols.seccomp_export_bpf(ctx, fd);
    if (rc < 0) throw new SeccompUnavailableError(`seccomp_export_bpf failed: errno ${-rc}`);
    const size = Number(libc.symbols.lseek(fd, 0n, 1 /* SEEK_CUR */));
    libc.symbols.lseek(fd, 0n, SEEK_SET);
    const program = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = Number(libc.symbols.read(fd, program.subarray(done), BigInt(size - done)));
      if (n <= 0) throw new SeccompUnavailableError("reading the exported filter failed");
      done += n;
    }
    return program;
  } finally {
    if (fd >= 0) libc.symbols.close(fd);
    libc.close();
  }
}

/** Compiles deny rules into the kernel's struct sock_filter[] for this machine. */
export function compileFilter(rules: DenyRule[]): Uint8Array {
  const lib = openLibseccomp();
  const ctx = lib.symbols.seccomp_init(SCMP_ACT_ALLOW);
  if (ctx === null) throw new SeccompUnavailableError("seccomp_init failed");
  try {
    // 32-bit programs (multilib test suites) get the same rules instead of
    // being killed as a foreign architecture.
    if (lib.symbols.seccomp_arch_native() === AUDIT_ARCH_X86_64) {
      const rc = lib.symbols.seccomp_arch_add(ctx, AUDIT_ARCH_I386);
      if (rc < 0 && rc !== -17 /* EEXIST */) {
        throw new SeccompUnavailableError(`seccomp_arch_add(x86) failed: errno ${-rc}`);
      }
    }
    for (const rule of rules) {
      const nr = lib.symbols.seccomp_syscall_resolve_name(utf8.encode(rule.syscall + "\0"));
      if (nr < 0) continue; // Not a system call on this architecture: nothing to deny.
      const action = SCMP_ACT_ERRNO | ERRNO[rule.errno];
      const rc = lib.symbols.seccomp_rule_add_array(
        ctx,
        action,
        nr,
        rule.match.length,
        argArray(rule),
      );
      if (rc < 0) {
        throw new SeccompUnavailableError(
          `libseccomp refused the rule for ${rule.syscall}: errno ${-rc}`,
        );
      }
    }
    return exportProgram(lib, ctx);
  } finally {
    lib.symbols.seccomp_release(ctx);
  }
}

const compiled = new Map<string, Uint8Array>();
let cacheDir: string | undefined;

/**
 * Keeps compiled programs in DIR (the store's filters/) across processes:
 * loading libseccomp and compiling costs a process about 5 ms, a third of
 * what `nsbuild run` may add to Deno's own start-up.
 */
export function cacheFiltersIn(dir: string | undefined): void {
  cacheDir = dir;
}

/**
 * The whole input of a compilation, as text: a cached program is used only
 * when its file holds exactly this, so neither a hash collision nor a
 * changed policy can install the wrong filter.
 */
export function policyText(rules: readonly DenyRule[]): string {
  const lines = rules.map((r) =>
    `${r.syscall} ${r.errno}${r.match.map((m) => ` ${m.arg}&${m.mask}=${m.value}`).join("")}`
  );
  return `nsbuild seccomp 1 ${Deno.build.arch}\n${lines.join("\n")}\n`;
}

/** FNV-1a, for a file name only: the file's contents are compared in full. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** File layout: the policy text, a NUL, the program. */
function readCached(path: string, policy: Uint8Array): Uint8Array | undefined {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return undefined;
  }
  const program = bytes.subarray(policy.length + 1);
  if (bytes[policy.length] !== 0 || program.length === 0 || program.length % 8 !== 0) {
    return undefined;
  }
  for (let i = 0; i < policy.length; i++) if (bytes[i] !== policy[i]) return undefined;
  return program.slice();
}

function writeCached(dir: string, path: string, policy: Uint8Array, program: Uint8Array): void {
  const bytes = new Uint8Array(policy.length + 1 + program.length);
  bytes.set(policy);
  bytes.set(program, policy.length + 1);
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.writeFileSync(tmp, bytes, { mode: 0o600 });
    Deno.renameSync(tmp, path);
  } catch {
    // A cache only: a read-only or full store compiles again next time.
    try {
      Deno.removeSync(tmp);
    } catch { /* never written */ }
  }
}

/** The program for these rules from DIR, compiled and stored there when it is not. */
export function cachedFilter(rules: readonly DenyRule[], dir: string): Uint8Array {
  const text = policyText(rules);
  const policy = utf8.encode(text);
  const path = `${dir}/${fnv1a(text)}.bpf`;
  const cached = readCached(path, policy);
  if (cached) return cached;
  const program = compileFilter([...rules]);
  writeCached(dir, path, policy, program);
  return program;
}

/** The default filter with the named groups relaxed; compiled once per set of groups. */
export function defaultFilter(relax: readonly string[] = []): Uint8Array {
  const key = [...new Set(relax)].sort().join(",");
  let program = compiled.get(key);
  if (!program) {
    const rules = denyRules(relax);
    program = cacheDir ? cachedFilter(rules, cacheDir) : compileFilter(rules);
    compiled.set(key, program);
  }
  return program;
}
