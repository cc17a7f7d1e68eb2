// The results table (figures × contenders, wharf's ratio to each peer, the target and whether
// it holds), printed and written into bench/results.md between markers (one pair per mode): the
// notes around them (profiles, before/after) are written by people and kept.
import { readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { CONTENDERS, type ContenderName } from "./contenders.ts";
import { type Figure, ratio } from "./figure.ts";

function num(v: number | undefined, unit: string): string {
  if (v === undefined || Number.isNaN(v)) return "—";
  if (unit === "req/s" || unit === "MiB/s" || unit === "MiB") return v.toFixed(0);
  if (unit === "GETs") return String(v);
  return v.toFixed(2);
}

function cell(f: Figure, c: ContenderName, bold: boolean): string {
  const text = f.cells?.[c] ?? num(f.values[c], f.unit);
  return bold && text !== "—" ? `**${text}**` : text;
}

/** The contender with the best value (ties: none marked). */
function best(f: Figure): ContenderName | undefined {
  const measured = CONTENDERS.filter((c) => f.values[c] !== undefined && c !== "direct");
  const sorted = [...measured].sort((a, b) => {
    const d = (f.values[a] as number) - (f.values[b] as number);
    return f.better === "lower" ? d : -d;
  });
  const [first, second] = sorted;
  if (!first || (second && f.values[first] === f.values[second])) return undefined;
  return first;
}

function rows(figures: Figure[], contenders: readonly ContenderName[], markdown: boolean): string[][] {
  const peers = contenders.filter((c) => c !== "wharf");
  const head = ["#", "figure", "unit", ...contenders, ...peers.map((p) => `wharf÷${p}`), "target", "holds"];
  const body = figures.map((f) => {
    const b = markdown ? best(f) : undefined;
    return [
      f.id,
      f.title,
      f.unit,
      ...contenders.map((c) => cell(f, c, c === b)),
      ...peers.map((p) => {
        const r = ratio(f, p);
        return r === undefined ? "—" : `${r.toFixed(2)}×`;
      }),
      f.target ?? "",
      f.holds === undefined ? "—" : f.holds ? "yes" : "NO",
    ];
  });
  return [head, ...body];
}

export function textTable(figures: Figure[], contenders: readonly ContenderName[]): string {
  const table = rows(figures, contenders, false);
  const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((r) => (r[i] ?? "").length)));
  return table
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function markdownTable(figures: Figure[], contenders: readonly ContenderName[]): string {
  const [head, ...body] = rows(figures, contenders, true);
  const line = (r: string[]) => `| ${r.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head as string[]), line((head as string[]).map(() => "---")), ...body.map(line)].join("\n");
}

export interface RunInfo {
  quick: boolean;
  started: Date;
  wallSeconds: number;
  loadBefore: number[];
  /** wharf's `workers` in this run (bench/run.ts); not given where the run compares counts. */
  wharfWorkers?: number;
}

export function runSummary(info: RunInfo): string {
  const cpu = cpus();
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  return [
    `- mode: ${info.quick ? "`--quick`" : "full"}; wall time ${info.wallSeconds.toFixed(0)} s`,
    ...(info.wharfWorkers === undefined
      ? []
      : [
          `- wharf: \`workers: ${info.wharfWorkers}\`${info.wharfWorkers > 1 ? " (RSS figures are the primary and its workers together)" : " (one process)"}`,
        ]),
    `- date: ${info.started.toISOString()}`,
    `- machine: ${cpu.length} cores (${cpu[0]?.model ?? "unknown"}), Node ${process.version}`,
    `- load average before / after: ${load(info.loadBefore)} / ${load(loadavg())}`,
  ].join("\n");
}

/**
 * Replaces the text between `begin` and `end` in `file` (the markers included), or appends it;
 * everything else in the file is kept. Each generated section of bench/results.md has its markers.
 */
export async function replaceSection(file: string, begin: string, end: string, body: string): Promise<void> {
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch {
    text = "# wharf benchmark results\n\n";
  }
  const block = `${begin}\n${body.trim()}\n${end}`;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(file, text);
}

/**
 * Replaces the generated section of `file` for this mode (full and --quick runs keep one each, and
 * one more each for a run with wharf at more than one worker).
 */
export function writeResults(file: string, quick: boolean, section: string, workers = 1): Promise<void> {
  const mode = `${quick ? "quick" : "full"}${workers > 1 ? `:workers-${workers}` : ""}`;
  return replaceSection(
    file,
    `<!-- bench:${mode}:begin (written by bench/run.ts) -->`,
    `<!-- bench:${mode}:end -->`,
    section,
  );
}
