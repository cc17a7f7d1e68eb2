// Test support: reads the TOML subset the generators write (tables with quoted keys, strings, string
// arrays, booleans), strictly: anything else, or a key or table defined twice, is an error (TOML v1.0.0).

type Value = string | boolean | string[];
export type TomlTable = { [key: string]: Value | TomlTable };

function splitKey(text: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+))\s*(\.|$)/y;
  while (re.lastIndex < text.length) {
    const m = re.exec(text);
    if (!m) break;
    parts.push(m[1] !== undefined ? (JSON.parse(`"${m[1]}"`) as string) : (m[2] as string));
    if (m[3] === "") break;
  }
  if (re.lastIndex !== text.length) throw new Error(`bad key: ${text}`);
  return parts;
}

function parseValue(text: string): Value {
  if (text === "true" || text === "false") return text === "true";
  const v: unknown = JSON.parse(text);
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  throw new Error(`unsupported value: ${text}`);
}

export function parseTomlSubset(text: string): TomlTable {
  const root: TomlTable = {};
  const defined = new Set<string>();
  let current = root;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      const path = splitKey(header[1]);
      const id = JSON.stringify(path);
      if (defined.has(id)) throw new Error(`table defined twice: ${line}`);
      defined.add(id);
      current = root;
      for (const part of path) {
        if (current[part] === undefined) current[part] = {};
        const next = current[part];
        if (typeof next !== "object" || Array.isArray(next)) throw new Error(`not a table: ${line}`);
        current = next;
      }
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(.+)$/.exec(line);
    if (!kv?.[1] || !kv[2]) throw new Error(`cannot parse line: ${line}`);
    if (kv[1] in current) throw new Error(`key defined twice: ${kv[1]}`);
    current[kv[1]] = parseValue(kv[2]);
  }
  return root;
}
