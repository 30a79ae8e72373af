// Pieces shared by the side-by-side developer scripts (side-by-side.mjs, gemm-side-by-side.mjs).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** A function that prints `<script>: message` on stderr and exits with 2. */
export function failer(script) {
  return (message) => {
    process.stderr.write(`${script}: ${message}\n`);
    process.exit(2);
  };
}

/** The command line's option values (`-h`/`--help` added: prints `usage` and exits 0; a bad option fails with it). */
export function parseOptions(options, usage, fail) {
  let values;
  try {
    values = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } } }).values;
  } catch (e) {
    fail(`${e.message}\n${usage}`);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}

/** The 1-minute load average, or null where /proc/loadavg cannot be read. */
export function load1() {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(/\s+/)[0]);
  } catch {
    return null;
  }
}

/** Median of the finite numbers in `xs` (null when there are none). */
export function median(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Rows of cells as lines of left-aligned columns two spaces apart. */
export function tableLines(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
}
