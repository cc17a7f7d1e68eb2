// Are wharf's listeners reachable? A TCP connect to each configured address (the DNS responder
// also takes TCP, RFC 7766). A wildcard bind is tried on loopback, where it answers too.
import { connect } from "node:net";
import type { Config, HostPort } from "../config/schema.ts";
import { type CheckResult, fail, pass, reason } from "./check-result.ts";

const LISTENERS = ["https", "http", "dns", "admin"] as const;

/** Where to connect to reach a listener bound to `host`. */
export function dialHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

export function probeTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const show = (a: HostPort) => (a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

export async function checkListeners(config: Config, timeoutMs: number): Promise<CheckResult[]> {
  const checks = LISTENERS.flatMap((name) => {
    const a = config.listen[name];
    return a ? [{ name, a }] : [];
  });
  return Promise.all(
    checks.map(async ({ name, a }) => {
      const target = { host: dialHost(a.host), port: a.port };
      try {
        await probeTcp(target.host, target.port, timeoutMs);
        return pass(`listen.${name}`, `${show(target)} accepts connections`);
      } catch (e) {
        return fail(
          `listen.${name}`,
          `${show(target)}: ${reason(e)}`,
          `start wharf (\`wharf serve\`) on this host, or correct listen.${name}; in a container, check the port is published`,
        );
      }
    }),
  );
}
