// Embedded defaults: the three registries CI fleets pull from most. Used when the config file
// (or its `registries` key) is absent.

export const DEFAULT_REGISTRIES: Record<string, { upstream: string; aliases?: string[]; tagTtl?: string }> = {
  "docker.io": {
    upstream: "https://registry-1.docker.io",
    aliases: ["registry-1.docker.io", "index.docker.io"],
    tagTtl: "5m",
  },
  "ghcr.io": { upstream: "https://ghcr.io" },
  "registry.gitlab.com": { upstream: "https://registry.gitlab.com" },
};
