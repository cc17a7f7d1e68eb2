// The status page's copy-paste commands name the configuration the server runs with: one-shot
// commands read the CA through it and never create one (issue 17).
import { describe, expect, it } from "vitest";
import { clientCommandsFor, DEFAULT_CLIENT_COMMANDS } from "./status-source.ts";

describe("clientCommandsFor", () => {
  it("adds --config with the server's file to every command", () => {
    const cmds = clientCommandsFor("/etc/wharf/wharf.yml");
    expect(cmds).toHaveLength(DEFAULT_CLIENT_COMMANDS.length);
    for (const c of cmds)
      expect(c).toMatch(/^wharf [a-z-]+ [a-z-]+ --config \/etc\/wharf\/wharf\.yml --out /);
  });
  it("quotes paths the shell would split", () => {
    expect(clientCommandsFor("/srv/my wharf/it's.yml")[0]).toBe(
      "wharf ca export --config '/srv/my wharf/it'\\''s.yml' --out ./wharf-ca.crt",
    );
  });
  it("leaves them as they are for the embedded defaults", () => {
    expect(clientCommandsFor("embedded defaults")).toEqual([...DEFAULT_CLIENT_COMMANDS]);
  });
});

describe("the status page", () => {
  it("says its counters start again when wharf restarts", async () => {
    const { readFile } = await import("node:fs/promises");
    const html = await readFile(new URL("./status-page.html", import.meta.url), "utf8");
    expect(html).toContain("they reset when wharf restarts");
  });
});
