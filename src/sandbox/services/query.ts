/** Helpers for AWS Query protocol lists: `Name.member.1=a&Name.member.2=b`. */

export function listMembers(params: URLSearchParams, name: string): string[] {
  const out: { i: number; v: string }[] = [];
  const prefix = `${name}.member.`;
  for (const [k, v] of params) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    if (/^\d+$/.test(rest)) out.push({ i: Number(rest), v });
  }
  return out.sort((a, b) => a.i - b.i).map((x) => x.v);
}

/** Lists of structures: `Tags.member.1.Key=k&Tags.member.1.Value=v` → [{Key:'k',Value:'v'}]. Nested lists keep their dotted names. */
export function structMembers(params: URLSearchParams, name: string): Record<string, string>[] {
  const byIndex = new Map<number, Record<string, string>>();
  const prefix = `${name}.member.`;
  for (const [k, v] of params) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\.(.+)$/.exec(k.slice(prefix.length));
    if (!m) continue;
    const i = Number(m[1]);
    const rec = byIndex.get(i) ?? {};
    rec[m[2]!] = v;
    byIndex.set(i, rec);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
}

/** Values of a nested list inside one struct member (e.g. ContextKeyValues.member.N). */
export function nestedList(rec: Record<string, string>, name: string): string[] {
  const prefix = `${name}.member.`;
  return Object.entries(rec)
    .filter(([k]) => k.startsWith(prefix) && /^\d+$/.test(k.slice(prefix.length)))
    .sort((a, b) => Number(a[0].slice(prefix.length)) - Number(b[0].slice(prefix.length)))
    .map(([, v]) => v);
}
