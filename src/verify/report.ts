/** What `nsbuild verify` prints: a one-line verdict with an account per differing file, or JSON. */
import type { VerifyReport } from "./verify.ts";
import { describeVariations } from "./variations.ts";

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The lines for people (stdout). */
export function reportLines(report: VerifyReport): string[] {
  const variations = `(${describeVariations(report.variations)})`;
  const c = report.comparison;
  switch (report.status) {
    case "reproducible":
      return [
        `verified: ${report.recipe} reproducible — ${
          plural(c?.files ?? 0, "file", "files")
        } identical ${variations}`,
        ...keptLines(report),
      ];
    case "differs": {
      const lines = [
        `NOT reproducible: ${c!.differences.length} of ${
          plural(c!.files, "file differs", "files differ")
        } ${variations}`,
      ];
      for (const d of c!.differences) {
        lines.push(`${d.path}: ${d.summary}`);
        for (const line of d.account) lines.push(`  ${line}`);
      }
      return [...lines, ...keptLines(report)];
    }
    case "build-failed": {
      const which = report.builds.b ? "b" : "a";
      const build = report.builds[which]!;
      return [
        `NOT verified: build ${which} of ${report.recipe} failed (exit ${build.status}); ` +
        "nothing was compared",
        ...(build.failure ?? []).filter((l) => l.trim()).slice(-10).map((l) => `  | ${l}`),
      ];
    }
    case "interrupted":
      return [`verify of ${report.recipe} interrupted; nothing was compared`];
  }
}

function keptLines(report: VerifyReport): string[] {
  return report.kept ? [`outputs kept in ${report.kept.a} and ${report.kept.b}`] : [];
}

/** The report for programs: one JSON object. */
export function reportJson(report: VerifyReport): unknown {
  const c = report.comparison;
  return {
    recipe: report.recipe,
    status: report.status,
    reproducible: report.status === "reproducible",
    files: c?.files ?? null,
    identical: c?.identical ?? null,
    variations: report.variations,
    differences: c?.differences ?? [],
    builds: report.builds,
    ...(report.kept ? { kept: report.kept } : {}),
  };
}
