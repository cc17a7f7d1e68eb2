// Binds a server and reports a clear error (address in use, permission) instead of a stack trace.
import type { AddressInfo, Server } from "node:net";
import { WharfError } from "./errors.ts";

export function listenOn(server: Server, host: string, port: number, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const hint =
        e.code === "EACCES"
          ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
          : e.code === "EADDRINUSE"
            ? " (already in use)"
            : "";
      reject(
        new WharfError(
          "CONFIG_INVALID",
          `listen.${what}: cannot listen on ${host}:${port}: ${e.code}${hint}`,
        ),
      );
    };
    server.once("error", onError);
    server.listen({ host, port }, () => {
      server.off("error", onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
