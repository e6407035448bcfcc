/**
 * The capabilities root of the sandbox keeps. A package build runs as root
 * to own files, change modes and switch users (dpkg, apt, install -o); it
 * never needs to mount, trace, load modules or tune the kernel. Dropping
 * CAP_SYS_ADMIN is what keeps it from unmounting a masked /proc file or
 * remounting a read-only bind read-write: the mounts belong to the
 * sandbox's own user namespace, so nothing else locks them.
 */
export const KEPT_CAPABILITIES: Readonly<Record<string, number>> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_SYS_CHROOT: 18,
  CAP_SETFCAP: 31,
};

/** The bit mask of KEPT_CAPABILITIES, for the executor's drop-caps op. */
export function keptCapabilityMask(): bigint {
  return Object.values(KEPT_CAPABILITIES).reduce((mask, cap) => mask | (1n << BigInt(cap)), 0n);
}
