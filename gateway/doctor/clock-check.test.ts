import { describe, expect, it } from "vitest";
import { WharfError } from "../../common/errors.ts";
import { fail, formatReport, pass, reason, skip } from "./check-result.ts";
import { checkClock } from "./clock-check.ts";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const httpDate = (ms: number) => new Date(ms).toUTCString();

describe("checkClock", () => {
  it("passes within five minutes of the upstreams and after the CA's notBefore", () => {
    const r = checkClock({
      now: NOW,
      caNotBefore: new Date(NOW - 86_400_000),
      upstreamDates: [
        { registry: "docker.io", date: httpDate(NOW - 4 * 60_000) },
        { registry: "ghcr.io", date: httpDate(NOW + 2000) },
      ],
    });
    expect(r).toMatchObject({ name: "clock", ok: true });
    expect(r.detail).toContain("within 240 s of 2 upstream clocks");
  });

  it("fails on the worst skew past five minutes, naming the upstream and the direction", () => {
    const r = checkClock({
      now: NOW,
      upstreamDates: [
        { registry: "docker.io", date: httpDate(NOW - 60_000) },
        { registry: "ghcr.io", date: httpDate(NOW + 10 * 60_000) },
      ],
    });
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("600 s behind upstream ghcr.io's clock");
    expect(r.fix).toContain("NTP");
  });

  it("fails when the clock is before the CA's notBefore, and ignores unparsable dates", () => {
    const r = checkClock({
      now: NOW,
      caNotBefore: new Date(NOW + 3_600_000),
      upstreamDates: [{ registry: "x", date: "soon" }],
    });
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("before the CA's notBefore");
    expect(checkClock({ now: NOW, upstreamDates: [{ registry: "x", date: "soon" }] }).detail).toContain(
      "no upstream clock",
    );
  });
});

describe("formatReport", () => {
  it("marks passes, skips and failures, with a fix line and a count", () => {
    const text = formatReport(
      [
        pass("config", "valid"),
        skip("dns", "off"),
        fail("listen.https", "0.0.0.0:443: refused", "start wharf"),
      ],
      "wharf.yml",
    );
    expect(text).toBe(
      [
        "wharf doctor (wharf.yml)",
        "✓ config: valid",
        "- dns: off",
        "✗ listen.https: 0.0.0.0:443: refused",
        "    fix: start wharf",
        "1 problem found.",
        "",
      ].join("\n"),
    );
    expect(formatReport([pass("a", "b")], "x")).toContain("No problems found.");
  });

  it("words errors with Node's code, and wharf's errors by their message", () => {
    expect(reason(Object.assign(new Error("connect failed"), { code: "ECONNREFUSED" }))).toBe(
      "connect failed (ECONNREFUSED)",
    );
    expect(reason(new WharfError("UPSTREAM_UNAVAILABLE", "upstream x unreachable (ECONNREFUSED)"))).toBe(
      "upstream x unreachable (ECONNREFUSED)",
    );
  });
});
