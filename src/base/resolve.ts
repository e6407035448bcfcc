/**
 * Turning a base reference into a root filesystem in the store: from the
 * refs/ record when the source has not changed (no sandbox, no hashing of
 * contents), else by importing it under a lock, so that two nsbuilds asking
 * for the same base at once import it once.
 */
import { joinPath as join } from "../util/path.ts";
import type { Executor } from "../sandbox/executor.ts";
import { acquireLock } from "../store/lock.ts";
import { ensureLayout, type StoreLayout } from "../store/layout.ts";
import { createTemp, finishTemp } from "../store/temp.ts";
import { removeTrees } from "../store/remove.ts";
import { hostAptSources, mmdebstrapEnv, parseDpkgStatus, planMmdebstrap } from "./debian.ts";
import {
  baseDir,
  type BaseInfo,
  baseRootfs,
  readBaseInfo,
  readRefRecord,
  writeJsonAtomic,
} from "./entry.ts";
import { discardTemp, ImportError, type TarProducer, unpackTar } from "./import.ts";
import { archiveProducer, commandProducer, directoryProducer } from "./producers.ts";
import { type BaseRef, formatBaseRef, refFingerprint, refKey } from "./ref.ts";
import { findProgram } from "../util/which.ts";

export interface ResolvedBase {
  digest: string;
  rootfs: string;
  info: BaseInfo;
  /** Whether this call imported it (else it came from the cache). */
  imported: boolean;
}

export interface ResolveContext {
  layout: StoreLayout;
  executor: () => Executor;
  /** Debian architecture of the host (amd64, arm64, ...). */
  arch: string;
  /** A line of progress for the person waiting. */
  progress?: (line: string) => void;
  /** Import again even when the cached base still stands for the reference. */
  refresh?: boolean;
}

function cached(ctx: ResolveContext, key: string, fingerprint: string): ResolvedBase | undefined {
  const record = readRefRecord(ctx.layout, key);
  if (!record || record.fingerprint !== fingerprint) return undefined;
  const dir = baseDir(ctx.layout, record.digest);
  const info = readBaseInfo(dir);
  if (!info) return undefined;
  try {
    // The last use, for `cache prune --older-than`.
    const now = new Date();
    Deno.utimeSync(join(dir, "base.json"), now, now);
  } catch {
    // Read-only store: still usable.
  }
  return {
    digest: record.digest,
    rootfs: baseRootfs(ctx.layout, record.digest),
    info,
    imported: false,
  };
}

export async function resolveBase(ref: BaseRef, ctx: ResolveContext): Promise<ResolvedBase> {
  const text = formatBaseRef(ref);
  let fingerprint: string;
  try {
    fingerprint = refFingerprint(ref, ctx.arch);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ImportError(`base ${text}: no such file or directory`, "fix the path");
    }
    throw e;
  }
  const key = refKey(ref);
  if (!ctx.refresh) {
    const hit = cached(ctx, key, fingerprint);
    if (hit) return hit;
  }
  ensureLayout(ctx.layout);
  const lock = await acquireLock(
    ctx.layout.locks,
    `ref-${key}`,
    () => ctx.progress?.(`waiting for another nsbuild importing ${text}`),
  );
  try {
    // It may have been imported while we waited.
    if (!ctx.refresh) {
      const hit = cached(ctx, key, fingerprint);
      if (hit) return hit;
    }
    const info = await importBase(ref, text, ctx);
    writeJsonAtomic(join(ctx.layout.refs, `${key}.json`), {
      ref: text,
      fingerprint,
      digest: info.digest,
      resolved: new Date().toISOString(),
    });
    return {
      digest: info.digest,
      rootfs: baseRootfs(ctx.layout, info.digest),
      info,
      imported: true,
    };
  } finally {
    lock.release();
  }
}

async function producerFor(
  ref: BaseRef,
  text: string,
  ctx: ResolveContext,
  scratch: () => Promise<string>,
): Promise<TarProducer> {
  switch (ref.kind) {
    case "tar":
      return archiveProducer(ref.path, text);
    case "dir":
      return await directoryProducer(
        ctx.layout.root,
        await scratch(),
        ctx.executor(),
        ref.path,
        text,
      );
    case "debian": {
      const mmdebstrap = findProgram("mmdebstrap");
      if (!mmdebstrap) {
        throw new ImportError(
          `${text}: mmdebstrap is not installed`,
          "install it: apt-get install mmdebstrap uidmap",
        );
      }
      const argv = planMmdebstrap({
        suite: ref.suite,
        packages: ref.packages,
        sourceFiles: hostAptSources(),
        arch: ctx.arch,
      });
      argv[0] = mmdebstrap;
      ctx.progress?.(`bootstrapping ${text} with mmdebstrap (about a minute)`);
      return commandProducer(argv, text, (line) => ctx.progress?.(line), mmdebstrapEnv());
    }
  }
}

async function importBase(ref: BaseRef, text: string, ctx: ResolveContext): Promise<BaseInfo> {
  const started = Date.now();
  const scratchTemps: Awaited<ReturnType<typeof createTemp>>[] = [];
  const scratch = async () => {
    const temp = await createTemp(ctx.layout.tmp, "pack");
    scratchTemps.push(temp);
    return temp.dir;
  };
  try {
    const producer = await producerFor(ref, text, ctx, scratch);
    const tree = await unpackTar({
      store: ctx.layout.root,
      tmpDir: ctx.layout.tmp,
      executor: ctx.executor,
      producer,
      label: text,
    });
    let committed = false;
    try {
      const info: BaseInfo = {
        digest: tree.digest,
        ref: text,
        kind: ref.kind,
        created: new Date().toISOString(),
        members: tree.members,
        skippedDevices: tree.skippedDevices,
        bytes: tree.bytes,
      };
      if (ref.kind === "debian") {
        info.packages = parseDpkgStatus(
          Deno.readTextFileSync(join(tree.rootfs, "var/lib/dpkg/status")),
        );
      }
      writeJsonAtomic(join(tree.temp.dir, "base.json"), info);
      const target = baseDir(ctx.layout, tree.digest);
      try {
        Deno.renameSync(tree.temp.dir, target);
        committed = true;
        finishTemp(tree.temp.dir, tree.temp.lock);
      } catch (e) {
        // The same content is in the store already: keep that one.
        if (!(e instanceof Deno.errors.AlreadyExists) && !isNotEmpty(e)) throw e;
        const existing = readBaseInfo(target);
        if (!existing) throw e;
        await discardTemp(ctx.layout.root, tree.temp, ctx.executor);
        committed = true;
        info.created = existing.created;
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      ctx.progress?.(
        `imported ${text}: ${info.members} entries, ${
          (info.bytes / 1e6).toFixed(0)
        } MB in ${seconds} s` +
          (info.skippedDevices
            ? ` (${info.skippedDevices} device nodes skipped: the sandbox provides /dev)`
            : ""),
      );
      return readBaseInfo(baseDir(ctx.layout, tree.digest)) ?? info;
    } finally {
      if (!committed) await discardTemp(ctx.layout.root, tree.temp, ctx.executor);
    }
  } finally {
    for (const temp of scratchTemps) {
      await removeTrees(ctx.layout.root, [temp.dir], ctx.executor).catch(() => {});
      finishTemp(temp.dir, temp.lock);
    }
  }
}

function isNotEmpty(e: unknown): boolean {
  return e instanceof Error && /ENOTEMPTY|Directory not empty|os error 39/.test(e.message);
}
