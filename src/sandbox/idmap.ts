/**
 * User and group id maps: root inside is the invoking user; 1..N are the
 * user's subordinate ids from /etc/subuid and /etc/subgid. Pure functions
 * decide; applyIdMaps() carries the decision out.
 */

export interface SubidRange {
  start: number;
  count: number;
}

export interface MapLine {
  inside: number;
  outside: number;
  count: number;
}

export interface Identity {
  uid: number;
  gid: number;
  /** The login name, when the passwd database knows it. */
  user?: string;
}

export interface IdMapPlan {
  /** "subordinate": 0 → user, 1..N → subordinate ids; "single": 0 → user only. */
  mode: "subordinate" | "single";
  uidMap: MapLine[];
  gidMap: MapLine[];
  /** newuidmap/newgidmap for an ordinary user; direct writes for root and single maps. */
  writer: "helpers" | "direct";
  /** Whether setgroups stays allowed (single maps must deny it). */
  setgroups: "allow" | "deny";
  /** One line for the user when the map is degraded, naming the fix. */
  warning?: string;
}

/** The most ids mapped above root: enough for every Debian system user and nobody. */
export const MAX_SUBORDINATE = 65536;

/**
 * Host ids given to the sandbox when root runs nsbuild and has no range of
 * its own in /etc/subuid: 0 inside becomes 1879048192 on the host, never real
 * root. The range sits above the ids that distributions and systemd assign.
 */
export const ROOT_DEFAULT_RANGE: SubidRange = { start: 1879048192, count: MAX_SUBORDINATE + 1 };

/** Parses /etc/subuid or /etc/subgid text for one user, by name or by uid. */
export function parseSubids(text: string, who: Identity): SubidRange[] {
  const ranges: SubidRange[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length !== 3) continue;
    const [owner, start, count] = fields as [string, string, string];
    if (owner !== who.user && owner !== String(who.uid)) continue;
    if (!/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
    const range = { start: Number(start), count: Number(count) };
    if (range.count > 0) ranges.push(range);
  }
  return ranges;
}

function subordinateLines(id: number, range: SubidRange): MapLine[] {
  return [
    { inside: 0, outside: id, count: 1 },
    { inside: 1, outside: range.start, count: Math.min(range.count, MAX_SUBORDINATE) },
  ];
}

/** Root's map: every id inside, 0 included, is an unprivileged host id. */
function rootLines(range: SubidRange): MapLine[] {
  return [{ inside: 0, outside: range.start, count: Math.min(range.count, MAX_SUBORDINATE + 1) }];
}

export function planIdMaps(who: Identity, subuid: string, subgid: string): IdMapPlan {
  const uids = parseSubids(subuid, who);
  // /etc/subgid is keyed by user too, not by group.
  const gids = parseSubids(subgid, who);
  if (who.uid === 0) {
    // A range starting at host id 0 would make root inside real root.
    const uidRange = uids.find((r) => r.start > 0) ?? ROOT_DEFAULT_RANGE;
    const gidRange = gids.find((r) => r.start > 0) ?? ROOT_DEFAULT_RANGE;
    return {
      mode: "subordinate",
      uidMap: rootLines(uidRange),
      gidMap: rootLines(gidRange),
      writer: "direct",
      setgroups: "allow",
    };
  }
  const uidRange = uids[0];
  const gidRange = gids[0];
  if (uidRange && gidRange) {
    return {
      mode: "subordinate",
      uidMap: subordinateLines(who.uid, uidRange),
      gidMap: subordinateLines(who.gid, gidRange),
      writer: "helpers",
      setgroups: "allow",
    };
  }
  const name = who.user ?? String(who.uid);
  const missing = [uidRange ? "" : "/etc/subuid", gidRange ? "" : "/etc/subgid"].filter(Boolean);
  return {
    mode: "single",
    uidMap: [{ inside: 0, outside: who.uid, count: 1 }],
    gidMap: [{ inside: 0, outside: who.gid, count: 1 }],
    writer: "direct",
    setgroups: "deny",
    warning: `nsbuild: warning: no subordinate ids for ${name} in ${missing.join(" and ")}: ` +
      "only root is mapped inside, so chown to other ids will fail; fix with " +
      `\`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}\`; ` +
      "run `nsbuild doctor`",
  };
}

/** The text written to /proc/PID/uid_map or gid_map. */
export function mapText(lines: MapLine[]): string {
  return lines.map((l) => `${l.inside} ${l.outside} ${l.count}\n`).join("");
}

/** The arguments of newuidmap/newgidmap for a pid. */
export function helperArgs(pid: number, lines: MapLine[]): string[] {
  return [
    String(pid),
    ...lines.flatMap((l) => [String(l.inside), String(l.outside), String(l.count)]),
  ];
}

/** The gids inside that the plan can use (devpts wants tty = 5). */
export function mapsId(lines: MapLine[], id: number): boolean {
  return lines.some((l) => id >= l.inside && id < l.inside + l.count);
}

/** Finds the login name for a uid in /etc/passwd text. */
export function userNameFor(passwd: string, uid: number): string | undefined {
  for (const line of passwd.split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 3 && fields[2] === String(uid)) return fields[0];
  }
  return undefined;
}
