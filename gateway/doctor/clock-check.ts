// Is this machine's clock sane for certificates? A clock behind the CA's notBefore rejects every
// certificate wharf issues (notBefore is already backdated an hour for slow clocks); a clock far
// from the upstreams' (their Date header, RFC 9110 6.6.1) also breaks registry token expiry checks.
import { type CheckResult, fail, pass } from "./check-result.ts";

export const MAX_SKEW_MS = 5 * 60_000;

export function checkClock(opts: {
  now: number;
  caNotBefore?: Date;
  /** Date headers the upstreams sent during this run. */
  upstreamDates: { registry: string; date: string }[];
  maxSkewMs?: number;
}): CheckResult {
  const max = opts.maxSkewMs ?? MAX_SKEW_MS;
  const here = new Date(opts.now).toISOString();
  const fix = "synchronise the clock (NTP: systemd-timesyncd, chrony); containers share the host's clock";
  if (opts.caNotBefore && opts.now < opts.caNotBefore.getTime()) {
    return fail(
      "clock",
      `${here} is before the CA's notBefore ${opts.caNotBefore.toISOString()}: every wharf certificate looks not yet valid`,
      fix,
    );
  }
  const skews = opts.upstreamDates.flatMap(({ registry, date }) => {
    const t = Date.parse(date);
    return Number.isNaN(t) ? [] : [{ registry, skew: opts.now - t }];
  });
  const worst = skews.reduce<{ registry: string; skew: number } | undefined>(
    (w, s) => (!w || Math.abs(s.skew) > Math.abs(w.skew) ? s : w),
    undefined,
  );
  if (worst && Math.abs(worst.skew) > max) {
    const dir = worst.skew > 0 ? "ahead of" : "behind";
    return fail(
      "clock",
      `${here} is ${Math.round(Math.abs(worst.skew) / 1000)} s ${dir} upstream ${worst.registry}'s clock (limit ${max / 1000} s)`,
      fix,
    );
  }
  const compared = worst
    ? `within ${Math.ceil(Math.abs(worst.skew) / 1000)} s of ${skews.length} upstream clock${skews.length === 1 ? "" : "s"}`
    : "no upstream clock to compare with";
  return pass("clock", `${here}, ${compared}${opts.caNotBefore ? ", after the CA's notBefore" : ""}`);
}
