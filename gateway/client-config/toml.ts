// Just enough TOML writing for hosts.toml and buildkitd.toml (TOML v1.0.0).

/** A basic string. JSON's escapes (\" \\ \n \uXXXX ...) are all valid TOML basic-string escapes. */
export function tomlString(s: string): string {
  return JSON.stringify(s);
}

export function tomlArray(items: string[]): string {
  return `[${items.map(tomlString).join(", ")}]`;
}

/** A table header with a quoted key part, e.g. [host."https://10.0.0.5"]. */
export function tomlTable(prefix: string, key: string): string {
  return `[${prefix}.${tomlString(key)}]`;
}
