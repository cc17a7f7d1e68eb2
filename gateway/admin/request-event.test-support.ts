// A registry request event with test defaults, for the admin tests.
import type { RequestEvent } from "../http/registry-app.ts";

export function requestEvent(p: Partial<RequestEvent> = {}): RequestEvent {
  return {
    registry: "docker.io",
    repository: "library/alpine",
    reference: "latest",
    kind: "blob",
    method: "GET",
    status: 200,
    outcome: "hit",
    bytes: 0,
    ms: 1,
    ...p,
  };
}
