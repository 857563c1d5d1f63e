/** What the benchmarks share: percentiles, how figures are printed, RSS, and their part of docs/benchmarks.md. */
import { readFile, writeFile } from "node:fs/promises";

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
  return {
    n: sorted.length,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

export const ms = (v: number): string => (Number.isNaN(v) ? "–" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`);

/** A table row: name, count, p50, p90, p99, max, mean. */
export const row = (name: string, s: Summary): string => `| ${name} | ${s.n} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${ms(s.max)} | ${ms(s.mean)} |`;

/** A row of a targets table: the target, what this run measured, and whether that meets it. */
export const targetRow = (target: string, measured: string, met: boolean): string => `| ${target} | ${measured} | ${met ? "met" : "**not met**"} |`;

/** Resident memory (VmRSS) of a process, in MB. */
export async function rssMb(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid ?? 0}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

const TITLE = "# Benchmarks\n\nEach section below is written by the bench script it names; each can be rerun on its own.\n";

/**
 * Replaces the part of `file` that `source` wrote last time (between its two marker comments), or
 * appends it: each bench rewrites only its own results.
 */
export async function writeSection(file: string, source: string, lines: string[]): Promise<void> {
  const begin = `<!-- written by ${source} -->`;
  const end = `<!-- end of ${source} -->`;
  const text = await readFile(file, "utf8").catch(() => TITLE);
  const section = `${begin}\n${lines.join("\n")}\n${end}`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  const next = from >= 0 && to > from ? text.slice(0, from) + section + text.slice(to + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, next);
}
