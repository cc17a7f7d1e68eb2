// What the route groups need from the gateway.
import type { Authenticator } from "../access/authenticator.ts";
import type { Targets } from "./target.ts";

export interface RouteDeps extends Targets {
  /** Users and tokens (access.htpasswd); absent when none are configured: nobody can push. */
  authenticator?: Authenticator;
  /** The repositories (proxied or hosted) a blob is linked in; absent: a pusher's HEAD links nothing. */
  linkedIn?: (digest: string) => readonly { registry: string; repository: string }[];
}
