/**
 * What the store holds, for `cache ls` and `cache prune`: every entry with
 * its size, age, last use and what uses it. Roots are the references in
 * refs/ and the build records in builds/; an entry no root reaches is
 * unreferenced.
 */
import { joinPath as join } from "../util/path.ts";
import { ENTRY_KINDS, type EntryKind, type StoreLayout } from "./layout.ts";

export interface EntryUse {
  /** "ref debian:bookworm", "build hello", "layer 3f2a…" */
  by: string;
}

export interface InventoryEntry {
  kind: EntryKind;
  digest: string;
  dir: string;
  /** A short human description: the reference, the step, the file name. */
  what: string;
  bytes: number;
  created: Date;
  lastUsed: Date;
  usedBy: string[];
}

/** A root: something the user asked for by name, and the entries it needs. */
export interface StoreRoot {
  /** "ref debian:bookworm" or "build hello" */
  name: string;
  /** The file that records it (removed when the root is pruned). */
  file: string;
  lastUsed: Date;
  /** Entries it needs, as kind/digest. */
  needs: { kind: EntryKind; digest: string }[];
}

export interface Inventory {
  entries: InventoryEntry[];
  roots: StoreRoot[];
}

interface EntryMeta {
  what?: string;
  created?: string;
  bytes?: number;
  /** Entries this one stands on (a layer's parent and base). */
  needs?: { kind: EntryKind; digest: string }[];
}

const META_FILE: Record<EntryKind, string> = {
  bases: "base.json",
  layers: "layer.json",
  sources: "source.json",
};

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as T;
  } catch {
    return undefined;
  }
}

/** Bytes under a directory, by lstat; unreadable parts are skipped, not fatal. */
export function treeBytes(dir: string): number {
  let total = 0;
  const walk = (path: string) => {
    let entries;
    try {
      entries = [...Deno.readDirSync(path)];
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = `${path}/${entry.name}`;
      try {
        const info = Deno.lstatSync(child);
        total += info.size;
        if (info.isDirectory) walk(child);
      } catch {
        // Gone or unreadable meanwhile.
      }
    }
  };
  walk(dir);
  return total;
}

function describe(kind: EntryKind, meta: Record<string, unknown>): EntryMeta {
  switch (kind) {
    case "bases":
      return {
        what: String(meta.ref ?? "base"),
        created: meta.created as string | undefined,
        bytes: meta.bytes as number | undefined,
      };
    case "layers":
      return {
        what: `${meta.recipe ?? "?"} step ${meta.step ?? "?"}`,
        created: meta.created as string | undefined,
        needs: meta.needs as EntryMeta["needs"],
      };
    case "sources":
      return { what: String(meta.name ?? "source"), created: meta.created as string | undefined };
  }
}

export function readInventory(layout: StoreLayout, measure = true): Inventory {
  const entries: InventoryEntry[] = [];
  const needsOf = new Map<string, { kind: EntryKind; digest: string }[]>();
  for (const kind of ENTRY_KINDS) {
    let names: string[] = [];
    try {
      names = [...Deno.readDirSync(layout[kind])].map((e) => e.name);
    } catch {
      continue;
    }
    for (const digest of names.sort()) {
      const dir = join(layout[kind], digest);
      const metaPath = join(dir, META_FILE[kind]);
      const meta = readJson<Record<string, unknown>>(metaPath);
      if (!meta) continue; // not complete: nothing renames an incomplete entry here
      const described = describe(kind, meta);
      let lastUsed: Date;
      try {
        lastUsed = Deno.statSync(metaPath).mtime ?? new Date(0);
      } catch {
        lastUsed = new Date(0);
      }
      const created = described.created ? new Date(described.created) : lastUsed;
      entries.push({
        kind,
        digest,
        dir,
        what: described.what ?? digest,
        bytes: described.bytes ?? (measure ? treeBytes(dir) : 0),
        created,
        lastUsed,
        usedBy: [],
      });
      needsOf.set(`${kind}/${digest}`, described.needs ?? []);
    }
  }
  const roots: StoreRoot[] = [];
  for (const [dir, label] of [[layout.refs, "ref"], [layout.builds, "build"]] as const) {
    let names: string[] = [];
    try {
      names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json"));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const file = join(dir, name);
      const record = readJson<Record<string, unknown>>(file);
      if (!record) continue;
      let lastUsed = new Date(0);
      try {
        lastUsed = Deno.statSync(file).mtime ?? lastUsed;
      } catch {
        // Keep the epoch: it sorts as unused.
      }
      const needs: StoreRoot["needs"] = label === "ref"
        ? [{ kind: record.kind === "sources" ? "sources" : "bases", digest: String(record.digest) }]
        : (record.needs as StoreRoot["needs"] | undefined) ?? [];
      const title = label === "ref" ? String(record.ref) : String(record.name ?? name);
      roots.push({ name: `${label} ${title}`, file, lastUsed, needs });
    }
  }
  // Uses: from roots, then from entries to the entries they stand on.
  const byKey = new Map(entries.map((e) => [`${e.kind}/${e.digest}`, e]));
  for (const root of roots) {
    for (const need of root.needs) byKey.get(`${need.kind}/${need.digest}`)?.usedBy.push(root.name);
  }
  for (const entry of entries) {
    for (const need of needsOf.get(`${entry.kind}/${entry.digest}`) ?? []) {
      byKey.get(`${need.kind}/${need.digest}`)?.usedBy.push(
        `${entry.kind.slice(0, -1)} ${entry.digest.slice(0, 12)}`,
      );
    }
  }
  return { entries, roots };
}

/** Entries some root reaches, directly or through the entries it needs. */
export function reachable(inventory: Inventory, roots: StoreRoot[]): Set<string> {
  const needsOf = new Map<string, { kind: EntryKind; digest: string }[]>();
  for (const entry of inventory.entries) {
    const meta = readJson<Record<string, unknown>>(
      join(entry.dir, META_FILE[entry.kind]),
    );
    needsOf.set(`${entry.kind}/${entry.digest}`, (meta?.needs as StoreRoot["needs"]) ?? []);
  }
  const seen = new Set<string>();
  const stack = roots.flatMap((r) => r.needs.map((n) => `${n.kind}/${n.digest}`));
  while (stack.length) {
    const key = stack.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const need of needsOf.get(key) ?? []) stack.push(`${need.kind}/${need.digest}`);
  }
  return seen;
}
