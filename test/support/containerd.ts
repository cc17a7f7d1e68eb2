// A private containerd (testbed.md §5): its own root, state and socket; ctr runs in a sandbox
// with a private resolv.conf and hosts file, since ctr (not containerd) resolves and downloads.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type OwnedProcess, spawnOwned, tailFile } from "./owned-process.ts";
import { type RunResult, runCommand } from "./run-command.ts";
import { createSandbox } from "./sandbox.ts";

export interface Containerd {
  socket: string;
  /** Runs `ctr -a SOCKET ARGS` with `hosts` in its /etc/hosts. */
  ctr(args: string[], opts?: { hosts?: Record<string, string>; allowFailure?: boolean }): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startContainerd(dir: string): Promise<Containerd> {
  const socket = join(dir, "containerd.sock");
  const config = [
    "version = 2",
    `root = ${JSON.stringify(join(dir, "root"))}`,
    `state = ${JSON.stringify(join(dir, "state"))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    "[grpc]",
    `  address = ${JSON.stringify(socket)}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(join(dir, "opt"))}`,
  ].join("\n");
  await writeFile(join(dir, "containerd.toml"), `${config}\n`);
  const log = join(dir, "containerd.log");
  const proc: OwnedProcess = spawnOwned(["containerd", "--config", join(dir, "containerd.toml")], {
    stderrFile: log,
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await runCommand(["ctr", "-a", socket, "version"], { allowFailure: true, timeoutMs: 5000 });
    if (r.code === 0) break;
    if (!proc.alive() || Date.now() > deadline)
      throw new Error(`containerd did not start:\n${tailFile(log)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket,
    async ctr(args, opts = {}) {
      const sandbox = await createSandbox({ hosts: opts.hosts });
      try {
        return await runCommand(sandbox.wrap(["ctr", "-a", socket, ...args]), {
          allowFailure: opts.allowFailure,
          timeoutMs: 60_000,
        });
      } finally {
        await sandbox.dispose();
      }
    },
    async stop() {
      await proc.stop();
    },
  };
}
