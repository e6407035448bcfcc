/**
 * The default seccomp policy, as data: which system calls (and which
 * arguments of them) a build is denied, grouped under names a recipe can
 * relax per step for a stated reason. Pure; seccomp.ts compiles it with
 * libseccomp. Everything else is allowed: the filter removes attack surface
 * a package build never needs, it is not an allow-list.
 */

/** A comparison of one argument, as libseccomp's SCMP_CMP_MASKED_EQ: (arg & mask) == value. */
export interface ArgMatch {
  arg: number;
  mask: bigint;
  value: bigint;
}

export interface DenyRule {
  syscall: string;
  /** The errno the call fails with (EPERM unless a caller must fall back, as for clone3). */
  errno: "EPERM" | "ENOSYS";
  /** All must hold (at most one per argument: libseccomp's limit); none: every call. */
  match: ArgMatch[];
}

export interface RuleGroup {
  name: string;
  /** Why it is denied, for `nsbuild doctor`, errors and the README. */
  why: string;
  /** Whether a recipe may relax it; pushing keys into a terminal never is. */
  relaxable: boolean;
  rules: DenyRule[];
}

const LOW_32 = 0xffffffffn;
const TIOCSTI = 0x5412n;
const TIOCLINUX = 0x541cn;
const CLONE_NEWUSER = 0x10000000n;
const ADDR_NO_RANDOMIZE = 0x0040000n;
const MMAP_PAGE_ZERO = 0x0100000n;
const ADDR_COMPAT_LAYOUT = 0x0200000n;
const PERSONALITY_QUERY_BIT = 0x80000000n;

function every(syscall: string): DenyRule {
  return { syscall, errno: "EPERM", match: [] };
}

function whenArg(syscall: string, arg: number, mask: bigint, value: bigint): DenyRule {
  return { syscall, errno: "EPERM", match: [{ arg, mask, value }] };
}

/**
 * personality(0xffffffff) only asks for the current persona and must keep
 * working; one comparison per argument cannot say "bit set and not
 * 0xffffffff", so: a weakening flag with bit 31 clear, or bit 31 set with
 * any other bit clear (no real persona sets bit 31), is denied.
 */
function personalityRules(): DenyRule[] {
  const weakening = [ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT].map((flag) =>
    whenArg("personality", 0, flag | PERSONALITY_QUERY_BIT, flag)
  );
  const notQuery = Array.from(
    { length: 31 },
    (_, bit) =>
      whenArg("personality", 0, PERSONALITY_QUERY_BIT | (1n << BigInt(bit)), PERSONALITY_QUERY_BIT),
  );
  return [...weakening, ...notQuery];
}

export const RULE_GROUPS: readonly RuleGroup[] = [
  {
    name: "tiocsti",
    why: "pushing input into a terminal (TIOCSTI) or driving the console (TIOCLINUX)",
    relaxable: false,
    // The low 32 bits only: the kernel ignores the rest (CVE-2019-10063).
    rules: [
      whenArg("ioctl", 1, LOW_32, TIOCSTI),
      whenArg("ioctl", 1, LOW_32, TIOCLINUX),
    ],
  },
  {
    name: "keyring",
    why: "the kernel keyrings are not namespaced: keys could leak between builds and the host",
    relaxable: true,
    rules: [every("keyctl"), every("add_key"), every("request_key")],
  },
  {
    name: "kexec",
    why: "loading a new kernel",
    relaxable: true,
    rules: [every("kexec_load"), every("kexec_file_load")],
  },
  {
    name: "bpf",
    why: "eBPF programs are kernel attack surface",
    relaxable: true,
    rules: [every("bpf")],
  },
  {
    name: "userfaultfd",
    why: "userfaultfd makes kernel races easy to win",
    relaxable: true,
    rules: [every("userfaultfd")],
  },
  {
    name: "perf",
    why: "performance events expose the host's activity",
    relaxable: true,
    rules: [every("perf_event_open")],
  },
  {
    name: "personality",
    why: "personality flags that switch off address-space randomisation",
    relaxable: true,
    rules: personalityRules(),
  },
  {
    name: "userns",
    why: "a nested user namespace gives the build back the capabilities nsbuild dropped",
    relaxable: true,
    rules: [
      whenArg("unshare", 0, CLONE_NEWUSER, CLONE_NEWUSER),
      whenArg("clone", 0, CLONE_NEWUSER, CLONE_NEWUSER),
      // clone3 passes its flags in memory a filter cannot read: ENOSYS makes
      // libc fall back to clone, where they are checked.
      { syscall: "clone3", errno: "ENOSYS", match: [] },
    ],
  },
];

export class SeccompPolicyError extends Error {
  override name = "SeccompPolicyError";
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** The rules in force once the named groups are relaxed; throws for an unknown or fixed group. */
export function denyRules(relax: readonly string[] = []): DenyRule[] {
  for (const name of relax) {
    const group = RULE_GROUPS.find((g) => g.name === name);
    if (!group) {
      throw new SeccompPolicyError(
        `"${name}" is not a seccomp rule group`,
        `the groups are: ${RULE_GROUPS.filter((g) => g.relaxable).map((g) => g.name).join(", ")}`,
      );
    }
    if (!group.relaxable) {
      throw new SeccompPolicyError(
        `the seccomp group "${name}" cannot be relaxed (${group.why})`,
        "no build needs it; remove it from the step's relaxSeccomp",
      );
    }
  }
  return RULE_GROUPS.filter((g) => !relax.includes(g.name)).flatMap((g) => g.rules);
}

/** The group names a recipe may relax. */
export function relaxableGroups(): string[] {
  return RULE_GROUPS.filter((g) => g.relaxable).map((g) => g.name);
}
