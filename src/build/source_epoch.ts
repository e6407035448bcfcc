/**
 * SOURCE_DATE_EPOCH when the recipe sets none: derived from the sources, so
 * that it moves with them and with nothing else. A Debian source package
 * gives the date of its latest debian/changelog entry (what dpkg itself
 * uses); a tarball gives its newest member's mtime. Local directories give
 * nothing: their mtimes are those of a checkout, not of the release. The
 * answer is cached beside the content-addressed entry it came from.
 */
import { joinPath as join } from "../util/path.ts";
import { DEFAULT_SOURCE_DATE_EPOCH } from "../recipe/types.ts";
import { archiveProducer } from "../base/producers.ts";
import { TarReader } from "../base/tar_reader.ts";
import type { ReadySource } from "./sources.ts";

export interface SourceDateEpoch {
  value: number;
  /** Where it came from, for the manifest: "recipe", "default" or "source NAME: how". */
  from: string;
}

/** The trailer of a changelog entry: " -- Name <mail>  Thu, 01 Jan 2024 12:00:00 +0100". */
const TRAILER = /^ -- .*?> {2}(.+)$/m;

/** Pure: the date of the first (latest) entry of a Debian changelog, in seconds. */
export function changelogEpoch(text: string): number | undefined {
  const match = TRAILER.exec(text);
  if (!match) return undefined;
  const ms = Date.parse(match[1]!);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/** Pure: the latest of the candidates; the default when there is none. */
export function pickEpoch(
  recipeValue: number | undefined,
  candidates: { source: string; how: string; value: number }[],
): SourceDateEpoch {
  if (recipeValue !== undefined) return { value: recipeValue, from: "recipe" };
  const latest = candidates.reduce<(typeof candidates)[number] | undefined>(
    (best, c) => (best === undefined || c.value > best.value ? c : best),
    undefined,
  );
  if (!latest) return { value: DEFAULT_SOURCE_DATE_EPOCH, from: "default" };
  return { value: latest.value, from: `source ${latest.source}: ${latest.how}` };
}

const TARBALL = /\.(tar|tgz|tbz2?|txz|tzst|tar\.(gz|xz|bz2|zst|lz|lzma))$/;

async function run(argv: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** The newest mtime among a tarball's members. */
async function newestMember(path: string): Promise<number | undefined> {
  let newest: number | undefined;
  try {
    const producer = archiveProducer(path, path);
    for await (const entry of new TarReader(producer.stream)) {
      if (newest === undefined || entry.mtime > newest) newest = entry.mtime;
    }
    await producer.done;
  } catch {
    return undefined; // Not a tarball after all: it says nothing about dates.
  }
  return newest;
}

async function debianEpoch(dir: string): Promise<number | undefined> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  const debianTar = names.find((n) => /\.debian\.tar\.[a-z0-9]+$/.test(n));
  // A native package keeps debian/ inside its only tarball.
  const native = names.find((n) => TARBALL.test(n));
  const [tarball, member] = debianTar
    ? [debianTar, ["debian/changelog"]]
    : native
    ? [native, ["--wildcards", "--no-anchored", "debian/changelog"]]
    : [undefined, []];
  if (!tarball) return undefined;
  const text = await run(["tar", "-xOf", join(dir, tarball), ...member]);
  return text === undefined ? undefined : changelogEpoch(text);
}

async function sourceEpoch(
  source: ReadySource,
): Promise<{ how: string; value: number } | undefined> {
  if (!source.inStore) return undefined;
  if (source.origin.startsWith("debian source ")) {
    const value = await debianEpoch(source.hostPath);
    return value === undefined ? undefined : { how: "debian/changelog", value };
  }
  if (!source.directory && TARBALL.test(source.name)) {
    const value = await newestMember(source.hostPath);
    return value === undefined ? undefined : { how: "newest member", value };
  }
  return undefined;
}

/** The epoch of each store source, cached in a file beside its content. */
export async function deriveSourceDateEpoch(
  recipeValue: number | undefined,
  sources: ReadySource[],
): Promise<SourceDateEpoch> {
  if (recipeValue !== undefined) return pickEpoch(recipeValue, []);
  const candidates = [];
  for (const source of sources) {
    if (!source.inStore) continue;
    const cache = join(source.hostPath, "..", "source-date-epoch.json");
    let found: { how: string; value: number } | null | undefined;
    try {
      found = JSON.parse(Deno.readTextFileSync(cache));
    } catch {
      found = (await sourceEpoch(source)) ?? null;
      try {
        Deno.writeTextFileSync(cache, JSON.stringify(found));
      } catch {
        // A read-only store still builds; it derives again next time.
      }
    }
    if (found) candidates.push({ source: source.name, ...found });
  }
  return pickEpoch(undefined, candidates);
}
