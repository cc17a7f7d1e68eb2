// The soak's output: a table over time, sparklines of RSS and open fds, the per-workload counts
// and the verdict, as text for the terminal and as markdown for bench/results.md.
import { replaceSection } from "./report.ts";
import type { Tallies } from "./soak-clients.ts";
import type { Sample, Verdict } from "./soak-sampler.ts";

const BARS = "▁▂▃▄▅▆▇█";

export function sparkline(values: number[], width = 60): string {
  if (values.length === 0) return "";
  const step = Math.max(1, Math.ceil(values.length / width));
  const points: number[] = [];
  for (let i = 0; i < values.length; i += step) points.push(Math.max(...values.slice(i, i + step)));
  const lo = Math.min(...points);
  const hi = Math.max(...points);
  return points
    .map((v) => BARS[hi === lo ? 0 : Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1))])
    .join("");
}

/** One row every `everySeconds` (the last sample of each interval), plus the final sample. */
export function timeTable(samples: Sample[], everySeconds: number): string[] {
  const rows = [
    "| t (s) | RSS (MiB) | fds | sockets | ok | errors | wrong |",
    "|---:|---:|---:|---:|---:|---:|---:|",
  ];
  let next = 0;
  let last = -1;
  samples.forEach((s, i) => {
    if ((s.t < next && i !== samples.length - 1) || s.t === last) return;
    last = s.t;
    next = s.t + everySeconds;
    rows.push(`| ${s.t} | ${s.rssMiB} | ${s.fds} | ${s.sockets} | ${s.ok} | ${s.errors} | ${s.wrong} |`);
  });
  return rows;
}

/** What bench/soak.ts runs, for the reader of bench/results.md. */
export const SOAK_LOAD =
  "- load: 8 images of one 6 MiB layer behind a 24 MiB cache (constant eviction); 3 verified pullers " +
  "(manifest, config, layer: digests checked), 40-request manifest storms every 3 s on a tagTtl-0 registry, " +
  "2 `curl -r` readers (bytes compared), 3 stalled sockets held 20 s, skopeo pulls every 5 s, `wharf cache gc` " +
  "every 15 s, and every 6 s an upstream fault in turn (tampered layer + a range over its flipped byte, " +
  "4× 503, 4× 429 + Retry-After, 4× 3 s delay, a cut body)";

export function soakReport(o: {
  minutes: number;
  samples: Sample[];
  tallies: Tallies;
  verdict: Verdict;
  started: Date;
}): string {
  const { verdict: v, samples, tallies } = o;
  const lines = [
    `- run: ${o.minutes} min of load, started ${o.started.toISOString()}, Node ${process.version}`,
    SOAK_LOAD,
    `- verdict: **${v.pass ? "PASS" : "FAIL"}**${v.reasons.length ? ` (${v.reasons.join("; ")})` : ""}`,
    `- RSS: idle ${v.idle.rssMiB} MiB, warm ${v.warm.rssMiB} MiB, peak ${v.peakRssMiB} MiB, end ${v.end.rssMiB} MiB`,
    `- open fds: idle ${v.idle.fds}, peak ${v.peakFds}, end ${v.end.fds} (sockets: idle ${v.idle.sockets}, end ${v.end.sockets})`,
    "",
    "```",
    `RSS ${sparkline(samples.map((s) => s.rssMiB))}`,
    `fds ${sparkline(samples.map((s) => s.fds))}`,
    "```",
    "",
    "| workload | ok | errors | wrong |",
    "|---|---:|---:|---:|",
    ...Object.entries(tallies.by).map(([w, t]) => `| ${w} | ${t.ok} | ${t.errors} | ${t.wrong} |`),
    "",
  ];
  const kinds = [...tallies.errorKinds.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  if (kinds.length) lines.push(`Most common errors: ${kinds.map(([k, n]) => `${k} ×${n}`).join(", ")}.`, "");
  if (tallies.wrongDetails.length)
    lines.push("Wrong deliveries:", ...tallies.wrongDetails.map((d) => `- ${d}`), "");
  lines.push(...timeTable(samples, Math.max(10, Math.round((o.minutes * 60) / 20))));
  return lines.join("\n");
}

/** Replaces the soak section of bench/results.md (between its markers), or appends it. */
export function writeSoakResults(file: string, body: string): Promise<void> {
  return replaceSection(
    file,
    "<!-- soak:begin (written by bench/soak.ts) -->",
    "<!-- soak:end -->",
    `## Soak (\`npm run soak\`)\n\n${body.trim()}`,
  );
}
