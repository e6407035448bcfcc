/** What the store keeps about a base: bases/<digest>/{rootfs/, base.json}. */
import { joinPath as join } from "../util/path.ts";
import type { StoreLayout } from "../store/layout.ts";

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
}

export interface BaseInfo {
  /** sha256 of the tar stream that was unpacked (devices dropped): the entry's name. */
  digest: string;
  /** The reference it was first imported for. */
  ref: string;
  kind: "dir" | "tar" | "debian";
  /** ISO time of the import. */
  created: string;
  members: number;
  skippedDevices: number;
  /** Bytes of the unpacked tar stream: about the size on disk. */
  bytes: number;
  /** For Debian bases: every installed package, so a manifest can name them. */
  packages?: InstalledPackage[];
}

export function baseDir(layout: StoreLayout, digest: string): string {
  return join(layout.bases, digest);
}

export function baseRootfs(layout: StoreLayout, digest: string): string {
  return join(layout.bases, digest, "rootfs");
}

export function readBaseInfo(dir: string): BaseInfo | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(join(dir, "base.json"))) as BaseInfo;
  } catch {
    return undefined;
  }
}

/** Every complete base in the store (a directory without base.json is not one). */
export function listBases(layout: StoreLayout): { dir: string; info: BaseInfo }[] {
  const out: { dir: string; info: BaseInfo }[] = [];
  let entries;
  try {
    entries = [...Deno.readDirSync(layout.bases)];
  } catch {
    return out;
  }
  for (const entry of entries) {
    const dir = join(layout.bases, entry.name);
    const info = readBaseInfo(dir);
    if (info) out.push({ dir, info });
  }
  return out.sort((a, b) => a.info.created.localeCompare(b.info.created));
}

/** A reference's record in refs/: which base it resolved to, for which state of its source. */
export interface RefRecord {
  ref: string;
  fingerprint: string;
  digest: string;
  resolved: string;
}

export function readRefRecord(layout: StoreLayout, key: string): RefRecord | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(join(layout.refs, `${key}.json`))) as RefRecord;
  } catch {
    return undefined;
  }
}

export function listRefRecords(layout: StoreLayout): RefRecord[] {
  const out: RefRecord[] = [];
  try {
    for (const entry of Deno.readDirSync(layout.refs)) {
      if (!entry.name.endsWith(".json")) continue;
      const record = readRefRecord(layout, entry.name.slice(0, -5));
      if (record) out.push(record);
    }
  } catch {
    // No refs yet.
  }
  return out;
}

/** Written aside and renamed: a reader sees the old record or the new one. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const temp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(temp, JSON.stringify(value, null, 2) + "\n");
  // Not the caller's umask: a manifest's mode is part of a reproducible output.
  Deno.chmodSync(temp, 0o644);
  Deno.renameSync(temp, path);
}
