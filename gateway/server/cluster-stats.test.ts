import { describe, expect, it } from "vitest";
import type { WorkerMessage } from "./cluster-ipc.ts";
import { ClusterStats } from "./cluster-stats.ts";

type Events = Extract<WorkerMessage, { t: "wharf.events" }>;

function events(requests: number, cpuMicros: number, refused: number, open = 1): Events {
  return {
    t: "wharf.events",
    requests: Array.from({ length: requests }, () => ({ bytes: 10 }) as Events["requests"][number]),
    fills: [],
    stored: 0,
    connections: { open: { http: open }, refused: { http: refused }, sendTimeouts: {} },
    rss: 100,
    cpuMicros,
  };
}

describe("ClusterStats", () => {
  it("sums the workers; a rolling restart keeps every counter from going down", () => {
    const s = new ClusterStats();
    s.started(0, 101);
    s.started(1, 102);
    s.record(0, 101, events(3, 2_000_000, 1));
    s.record(1, 102, events(2, 1_000_000, 0));
    expect(s.connections.open.http).toBe(2);
    expect(s.connections.refused.http).toBe(1);
    // slot 0 is replaced: the new worker reports while the old one still drains
    s.started(0, 201);
    s.record(0, 201, events(1, 500_000, 0));
    s.record(0, 101, events(1, 2_500_000, 2, 0));
    const during = s.report().find((w) => w.worker === 0);
    expect(during).toMatchObject({ pid: 201, restarts: 1, requests: 5, bytesServed: 50, residentBytes: 200 });
    expect(during?.cpuSeconds).toBe(3);
    s.exited(0, 101);
    const after = s.report().find((w) => w.worker === 0);
    expect(after).toMatchObject({ up: true, residentBytes: 100, connectionsOpen: 1 });
    expect(after?.cpuSeconds).toBe(3);
    expect(s.connections.refused.http).toBe(2); // the old worker's refusals stay counted
    expect(s.connections.open.http).toBe(2);
  });
});
