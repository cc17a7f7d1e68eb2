// HtpasswdUsers against files written by Debian's htpasswd(1) and by bcryptjs: checks, refusals,
// timing of unknown users, reloads (in place, atomic replace, broken file) and the check cache.
import { appendFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { silentLogger } from "../log.ts";
import { captureLog, htpasswd } from "./access.test-support.ts";
import { type HtpasswdOptions, HtpasswdUsers } from "./htpasswd-users.ts";

let tmp: TempDir;
let n = 0;
const open: HtpasswdUsers[] = [];
beforeAll(async () => {
  tmp = await makeTempDir("wharf-htpasswd-");
});
afterEach(() => {
  for (const u of open.splice(0)) u.close();
});
afterAll(() => tmp.remove());

/** A fresh file: alice by `htpasswd -B` (cost COST), bob by bcryptjs ($2b$ and also as $2a$). */
async function usersFile(cost = 5): Promise<string> {
  const file = join(tmp.path, `htpasswd-${++n}`);
  await htpasswd("-B", "-C", String(cost), "-b", "-c", file, "alice", "alice-pw");
  const bob = bcrypt.hashSync("bob pw: with colon", cost);
  const bobA = bcrypt.hashSync("bob-a-pw", cost).replace(/^\$2b\$/, "$2a$");
  await appendFile(file, `# a comment\n\nbob:${bob}\nbob-a:${bobA}\n`);
  return file;
}

async function openUsers(file: string, opts: Partial<HtpasswdOptions> = {}): Promise<HtpasswdUsers> {
  const users = await HtpasswdUsers.open(file, { log: silentLogger, recheckMs: 0, watch: false, ...opts });
  open.push(users);
  return users;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("HtpasswdUsers", () => {
  it("checks bcrypt entries from htpasswd -B ($2y$) and bcryptjs ($2a$, $2b$)", async () => {
    const file = await usersFile();
    const users = await openUsers(file);
    expect(users.size).toBe(3);
    expect(await users.verify("alice", "alice-pw")).toBe(true);
    expect(await users.verify("bob", "bob pw: with colon")).toBe(true);
    expect(await users.verify("bob-a", "bob-a-pw")).toBe(true);
    expect(await users.verify("alice", "wrong")).toBe(false);
    expect(await users.verify("alice", "")).toBe(false);
    expect(await users.verify("nobody", "alice-pw")).toBe(false);
  });

  it("refuses other hash kinds with a warning naming the user, never the hash", async () => {
    const file = await usersFile();
    const md5 = (await htpasswd("-m", "-b", "-n", "carol", "carol-pw")).trim();
    const sha = (await htpasswd("-s", "-b", "-n", "dave", "dave-pw")).trim();
    await appendFile(file, `${md5}\n${sha}\nerin:erin-plain-pw\n`);
    const captured = captureLog(tmp.path, `warn-${n}.log`);
    const users = await openUsers(file, { log: captured.log });
    expect(await users.verify("carol", "carol-pw")).toBe(false);
    expect(await users.verify("dave", "dave-pw")).toBe(false);
    expect(await users.verify("erin", "erin-plain-pw")).toBe(false);
    expect(await users.verify("alice", "alice-pw")).toBe(true);
    const lines = await captured.lines();
    const warned = lines.filter((l) => l.level === 40).map((l) => [l.user, l.kind]);
    expect(warned).toEqual([
      ["carol", "md5"],
      ["dave", "sha1"],
      ["erin", "plain"],
    ]);
    const text = await captured.text();
    for (const secret of [md5.split(":")[1], sha.split(":")[1], "erin-plain-pw"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("takes as long for an unknown user as for a wrong password", async () => {
    const users = await openUsers(await usersFile(8));
    const time = async (user: string, i: number): Promise<number> => {
      const t = performance.now();
      expect(await users.verify(user, `wrong-${i}`)).toBe(false);
      return performance.now() - t;
    };
    // Interleaved, so that load from other processes falls on both series alike.
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 9; i++) {
      known.push(await time("alice", i));
      unknown.push(await time(`nobody-${i}`, i));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[4] as number;
    const ratio = median(unknown) / median(known);
    // Both run one bcrypt compare at cost 8 (~20 ms); without the dummy run the ratio is near 0.
    expect(ratio).toBeGreaterThan(0.33);
    expect(ratio).toBeLessThan(3);
  });

  it("remembers successful checks: 50 requests with the same Basic cost about one bcrypt run", async () => {
    const users = await openUsers(await usersFile(10), { recheckMs: 1000 });
    let t = performance.now();
    expect(await users.verify("alice", "wrong")).toBe(false);
    const one = performance.now() - t;
    t = performance.now();
    // 25 at once (a push's parallel uploads share the first run), then 25 one after another.
    const parallel = await Promise.all(Array.from({ length: 25 }, () => users.verify("alice", "alice-pw")));
    for (let i = 0; i < 25; i++) parallel.push(await users.verify("alice", "alice-pw"));
    const fifty = performance.now() - t;
    expect(parallel.every(Boolean)).toBe(true);
    expect(fifty).toBeLessThan(one * 5);
    // Wrong passwords are never remembered.
    expect(await users.verify("alice", "alice-pw ")).toBe(false);
  });

  it("fails to open a missing or broken file, without quoting it", async () => {
    await expect(openUsers(join(tmp.path, "absent"))).rejects.toSatisfy(
      (e) => isWharfError(e, "CONFIG_INVALID") && /ENOENT/.test((e as Error).message),
    );
    const file = join(tmp.path, `broken-${++n}`);
    await writeFile(file, "alice:$2y$05$abc\nmy-secret-password\n");
    const err = await openUsers(file).catch((e: Error) => e);
    expect(isWharfError(err, "CONFIG_INVALID")).toBe(true);
    expect((err as Error).message).toContain("line 2");
    expect((err as Error).message).not.toContain("my-secret-password");
  });

  it("sees a user appended in place, and a changed password drops the remembered check", async () => {
    const file = await usersFile();
    const users = await openUsers(file);
    expect(await users.verify("alice", "alice-pw")).toBe(true);
    expect(await users.verify("frank", "frank-pw")).toBe(false);
    await htpasswd("-B", "-C", "5", "-b", file, "frank", "frank-pw");
    expect(await users.verify("frank", "frank-pw")).toBe(true);
    await htpasswd("-B", "-C", "5", "-b", file, "alice", "alice-new");
    expect(await users.verify("alice", "alice-pw")).toBe(false);
    expect(await users.verify("alice", "alice-new")).toBe(true);
  });

  it("follows an atomic replace through fs.watch, and keeps the last good users when the file breaks", async () => {
    const file = await usersFile();
    const captured = captureLog(tmp.path, `reload-${n}.log`);
    // No stat check on use for an hour: only the watch can see the change.
    const users = await openUsers(file, { log: captured.log, watch: true, recheckMs: 3_600_000 });
    expect(await users.verify("alice", "alice-pw")).toBe(true);
    const next = join(tmp.path, `next-${n}`);
    await writeFile(next, `gina:${bcrypt.hashSync("gina-pw", 5)}\n`);
    await rename(next, file);
    await waitFor(async () => users.size === 1, "the replaced file to load");
    expect(await users.verify("gina", "gina-pw")).toBe(true);
    expect(await users.verify("alice", "alice-pw")).toBe(false);

    await writeFile(next, "no colon here\n");
    await rename(next, file);
    await waitFor(
      async () =>
        (await captured.lines()).some((l) => l.msg === "htpasswd reload failed; keeping the previous users"),
      "the failed reload to be logged",
    );
    expect(await users.verify("gina", "gina-pw")).toBe(true);
    expect(users.size).toBe(1);
  });
});
