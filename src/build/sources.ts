/**
 * A recipe's sources, fetched outside the sandbox before any step runs,
 * verified, and kept in the store by digest: sources/<digest>/{content,
 * source.json}. A step sees each read-only at /src/<name>.
 */
import { createHash } from "node:crypto";
import { joinPath as join } from "../util/path.ts";
import type { StoreLayout } from "../store/layout.ts";
import { createTemp, finishTemp } from "../store/temp.ts";
import { acquireLock } from "../store/lock.ts";
import { readRefRecord, writeJsonAtomic } from "../base/entry.ts";
import { fetchDebianSource } from "../source/apt_source.ts";

export class SourceError extends Error {
  override name = "SourceError";
  constructor(message: string, readonly hint = "") {
    super(message);
  }
}

export type SourceSpec =
  | { url: string; sha256: string; dest?: string }
  | { path: string; dest?: string }
  | { debian: string; version: string; dest?: string };

export interface ReadySource {
  /** Its name under /src. */
  name: string;
  digest: string;
  /** What is bound read-only at /src/<name>: a file or a directory. */
  hostPath: string;
  directory: boolean;
  /** Whether it is a store entry (a local path is bound where it is). */
  inStore: boolean;
  cached: boolean;
  /** For the manifest: where it came from. */
  origin: string;
}

export function sourceName(spec: SourceSpec): string {
  if (spec.dest) return spec.dest;
  if ("url" in spec) return new URL(spec.url).pathname.split("/").filter(Boolean).pop() ?? "source";
  if ("path" in spec) return spec.path.split("/").filter(Boolean).pop() ?? "source";
  return spec.debian;
}

function entryDir(layout: StoreLayout, digest: string): string {
  return join(layout.sources, digest);
}

function present(layout: StoreLayout, digest: string): boolean {
  try {
    Deno.statSync(join(entryDir(layout, digest), "source.json"));
    return true;
  } catch {
    return false;
  }
}

function touch(layout: StoreLayout, digest: string): void {
  const now = new Date();
  try {
    Deno.utimeSync(join(entryDir(layout, digest), "source.json"), now, now);
  } catch {
    // Still usable.
  }
}

async function commit(
  layout: StoreLayout,
  temp: Awaited<ReturnType<typeof createTemp>>,
  digest: string,
  meta: Record<string, unknown>,
): Promise<void> {
  writeJsonAtomic(join(temp.dir, "source.json"), {
    ...meta,
    digest,
    created: new Date().toISOString(),
  });
  try {
    Deno.renameSync(temp.dir, entryDir(layout, digest));
  } catch (e) {
    if (!present(layout, digest)) throw e;
    await Deno.remove(temp.dir, { recursive: true });
  }
  finishTemp(temp.dir, temp.lock);
}

async function fetchUrl(
  layout: StoreLayout,
  spec: { url: string; sha256: string },
  label: string,
  note: (line: string) => void,
): Promise<void> {
  const temp = await createTemp(layout.tmp, "source");
  let done = false;
  try {
    note(`fetching ${spec.url}`);
    let response;
    try {
      response = await fetch(spec.url);
    } catch (e) {
      throw new SourceError(
        `${label}: cannot fetch ${spec.url}: ${(e as Error).message}`,
        "check the URL and the network",
      );
    }
    if (!response.ok || !response.body) {
      throw new SourceError(
        `${label}: ${spec.url} answered ${response.status} ${response.statusText}`,
        "check the URL",
      );
    }
    const hash = createHash("sha256");
    const file = await Deno.open(join(temp.dir, "content"), { write: true, createNew: true });
    let size = 0;
    try {
      for await (const chunk of response.body) {
        hash.update(chunk);
        size += chunk.length;
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
      }
    } finally {
      file.close();
    }
    const got = hash.digest("hex");
    if (got !== spec.sha256) {
      throw new SourceError(
        `${label}: sha256 mismatch for ${spec.url}: the recipe says ${spec.sha256}, the download is ${got}`,
        "nothing was cached and no step ran; if the new file is the one you trust, put its sha256 in the recipe",
      );
    }
    await commit(layout, temp, got, { kind: "url", name: spec.url, url: spec.url, size });
    done = true;
  } finally {
    if (!done) {
      await Deno.remove(temp.dir, { recursive: true }).catch(() => {});
      finishTemp(temp.dir, temp.lock);
    }
  }
}

/** sha256 of a file, or of a directory's sorted (path, kind, mode, content digest) list. */
export async function pathDigest(path: string): Promise<{ digest: string; directory: boolean }> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) return { digest: await fileDigest(path), directory: false };
  const hash = createHash("sha256");
  const walk = async (dir: string, rel: string) => {
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    for (const name of names.sort()) {
      const full = `${dir}/${name}`;
      const entry = await Deno.lstat(full);
      const mode = (entry.mode ?? 0) & 0o7777;
      if (entry.isSymlink) hash.update(`l ${rel}${name} ${await Deno.readLink(full)}\n`);
      else if (entry.isDirectory) {
        hash.update(`d ${rel}${name} ${mode.toString(8)}\n`);
        await walk(full, `${rel}${name}/`);
      } else hash.update(`f ${rel}${name} ${mode.toString(8)} ${await fileDigest(full)}\n`);
    }
  };
  await walk(path, "");
  return { digest: hash.digest("hex"), directory: true };
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

export async function prepareSources(options: {
  layout: StoreLayout;
  sources: SourceSpec[];
  note: (line: string) => void;
  /** Names the recipe in messages: "recipes/hello.ts". */
  recipeLabel: string;
}): Promise<ReadySource[]> {
  const { layout } = options;
  const ready: ReadySource[] = [];
  const names = new Set<string>();
  for (const [i, spec] of options.sources.entries()) {
    const label = `${options.recipeLabel}: sources[${i}]`;
    const name = sourceName(spec);
    if (names.has(name)) {
      throw new SourceError(
        `${label}: a second source named "${name}" under /src`,
        "give one a `dest`",
      );
    }
    names.add(name);
    if ("url" in spec) {
      const cached = present(layout, spec.sha256);
      if (!cached) {
        const lock = await acquireLock(layout.locks, `source-${spec.sha256}`);
        try {
          if (!present(layout, spec.sha256)) await fetchUrl(layout, spec, label, options.note);
        } finally {
          lock.release();
        }
      } else touch(layout, spec.sha256);
      ready.push({
        name,
        digest: spec.sha256,
        hostPath: join(entryDir(layout, spec.sha256), "content"),
        directory: false,
        inStore: true,
        cached,
        origin: spec.url,
      });
    } else if ("path" in spec) {
      let digest;
      try {
        digest = await pathDigest(spec.path);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new SourceError(
            `${label}: ${spec.path} does not exist`,
            "fix `path` (relative to the recipe file)",
          );
        }
        throw e;
      }
      ready.push({
        name,
        digest: digest.digest,
        hostPath: spec.path,
        directory: digest.directory,
        inStore: false,
        cached: true,
        origin: spec.path,
      });
    } else {
      ready.push(await debianSource(layout, spec, name, label, options.note));
    }
  }
  return ready;
}

/** A Debian source package, by name and version; its record maps the pair to the files' digest, so a rebuild needs no network. */
async function debianSource(
  layout: StoreLayout,
  spec: { debian: string; version: string },
  name: string,
  label: string,
  note: (line: string) => void,
): Promise<ReadySource> {
  const refKey = `debsrc-${
    createHash("sha256").update(`${spec.debian}=${spec.version}`).digest("hex").slice(0, 32)
  }`;
  const origin = `debian source ${spec.debian}=${spec.version}`;
  const lookup = () => {
    const record = readRefRecord(layout, refKey);
    return record && present(layout, record.digest) ? record.digest : undefined;
  };
  let digest = lookup();
  const cached = digest !== undefined;
  if (!digest) {
    const lock = await acquireLock(layout.locks, refKey);
    try {
      digest = lookup() ?? await fetchDebian(layout, spec, refKey, label, note);
    } finally {
      lock.release();
    }
  } else touch(layout, digest);
  return {
    name,
    digest,
    hostPath: join(entryDir(layout, digest), "content"),
    directory: true,
    inStore: true,
    cached,
    origin,
  };
}

async function fetchDebian(
  layout: StoreLayout,
  spec: { debian: string; version: string },
  refKey: string,
  label: string,
  note: (line: string) => void,
): Promise<string> {
  const temp = await createTemp(layout.tmp, "source");
  let done = false;
  try {
    note(`fetching Debian source ${spec.debian}=${spec.version} through apt`);
    const content = join(temp.dir, "content");
    Deno.mkdirSync(content);
    let files;
    try {
      files = await fetchDebianSource({
        name: spec.debian,
        version: spec.version,
        workDir: join(temp.dir, "apt"),
        destDir: content,
      });
    } catch (e) {
      throw new SourceError(
        `${label}: ${(e as Error).message}`,
        (e as { hint?: string }).hint ?? "",
      );
    }
    await Deno.remove(join(temp.dir, "apt"), { recursive: true }).catch(() => {});
    const digest = createHash("sha256")
      .update(files.map((f) => `${f.name} ${f.sha256}\n`).sort().join(""))
      .digest("hex");
    await commit(layout, temp, digest, {
      kind: "debian",
      name: `${spec.debian}=${spec.version}`,
      files,
    });
    done = true;
    writeJsonAtomic(join(layout.refs, `${refKey}.json`), {
      ref: `debsrc:${spec.debian}=${spec.version}`,
      kind: "sources",
      fingerprint: "",
      digest,
      resolved: new Date().toISOString(),
    });
    return digest;
  } finally {
    if (!done) {
      await Deno.remove(temp.dir, { recursive: true }).catch(() => {});
      finishTemp(temp.dir, temp.lock);
    }
  }
}
