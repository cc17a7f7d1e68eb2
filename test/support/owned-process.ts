// Long-running child processes (registries, dnsmasq, dockerd, wharf) owned by one test worker.
// Output goes to files opened O_APPEND, so they can be read (or truncated) while the process runs.
// Two safety nets: PR_SET_PDEATHSIG (the kernel kills the child if the worker dies) and an
// exit hook that SIGKILLs whatever is still running when the worker exits.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { addExitHook } from "./exit-hooks.ts";
import { PDEATHSIG } from "./run-command.ts";

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface OwnedProcess {
  readonly pid: number;
  readonly argv: string[];
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves once it has exited. */
  stop(graceMs?: number): Promise<ExitInfo>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  /** Files that receive stdout / stderr (appended); default: discarded. */
  stdoutFile?: string;
  stderrFile?: string;
  /** Added to process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

function openLog(file: string | undefined): number | "ignore" {
  return file ? openSync(file, "a") : "ignore";
}

export function spawnOwned(argv: string[], opts: SpawnOptions = {}): OwnedProcess {
  const out = openLog(opts.stdoutFile);
  const err = openLog(opts.stderrFile);
  const [cmd, ...args] = [...PDEATHSIG, ...argv];
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(cmd as string, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", out, err],
    });
  } finally {
    if (typeof out === "number") closeSync(out);
    if (typeof err === "number") closeSync(err);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${argv.join(" ")}`);
  let info: ExitInfo | undefined;
  const removeHook = addExitHook(() => {
    if (!info) process.kill(pid, "SIGKILL");
  });
  const exited = new Promise<ExitInfo>((resolve) => {
    child.on("exit", (code, signal) => {
      info = { code, signal };
      removeHook();
      resolve(info);
    });
  });

  const kill = (signal: NodeJS.Signals = "SIGKILL"): void => {
    if (!info) child.kill(signal);
  };
  const stop = async (graceMs = 5000): Promise<ExitInfo> => {
    if (info) return info;
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return { pid, argv, exited, alive: () => info === undefined, stop, kill };
}

/** The last `lines` lines of a log file ("" when it does not exist), for error messages. */
export function tailFile(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}
