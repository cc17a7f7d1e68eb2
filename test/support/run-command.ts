// Runs a short-lived command, collects its output and throws (with stderr) when it fails.
// Every command gets PR_SET_PDEATHSIG (setpriv): if the test worker dies, the command dies too.
import { spawn } from "node:child_process";

export interface RunOptions {
  /** Added to process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string | Buffer;
  /** Default 60 s; the command is killed (SIGKILL) when it runs longer. */
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  readonly argv: string[];
  readonly result: RunResult;
  constructor(argv: string[], result: RunResult, why: string) {
    const tail = result.stderr.trim().split("\n").slice(-15).join("\n");
    super(`${argv.join(" ")}: ${why}\n${tail}`);
    this.name = "CommandError";
    this.argv = argv;
    this.result = result;
  }
}

/** Prefix that makes the kernel SIGKILL the command when our process (its parent) dies. */
export const PDEATHSIG = ["setpriv", "--pdeathsig", "KILL", "--"];

export function runCommand(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = [...PDEATHSIG, ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = {
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      if (timedOut) reject(new CommandError(argv, result, `timed out after ${opts.timeoutMs ?? 60_000} ms`));
      else if (code !== 0 && !opts.allowFailure)
        reject(new CommandError(argv, result, `exit ${code ?? signal}`));
      else resolve(result);
    });
    child.stdin.on("error", () => {}); // the command may exit without reading its input
    child.stdin.end(opts.input ?? "");
  });
}
