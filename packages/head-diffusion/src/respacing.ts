/**
 * Timestep respacing (mar.md §5.3): which steps of the T-step training diffusion a
 * sampler keeps, parsed from the official strings. Follows `space_timesteps` in
 * LTH14/mar `diffusion/respace.py` (IDDPM's): `""` keeps every step, `"ddimN"` the
 * DDIM paper's integer stride, and a comma list `"n1,n2,..."` splits the T steps into
 * equal consecutive sections and takes n_j evenly spread steps (real stride, Python
 * rounding) from section j. `"100"` is the one-section case MAR and FAR sample with.
 */
import { TesseraError } from '@tessera/core';

/** Python's `round` on a double: to nearest, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function invalid(spec: string, why: string, numTimesteps: number): TesseraError {
  return new TesseraError('CONFIG_INVALID', `diffusion step string \`${spec}\` is not valid for ${numTimesteps} training steps: ${why}. Use a count such as \`"100"\`, \`"ddim25"\` or a comma list such as \`"20,5"\``, {
    subject: 'head/diffusion',
    data: { spec, numTimesteps },
  });
}

/**
 * The kept original steps, sorted ascending.
 * @example spaceTimesteps(1000, '100') // [0, 10, 20, 30, 40, 50, 61, ..., 989, 999]
 */
export function spaceTimesteps(numTimesteps: number, spec: string): number[] {
  const trimmed = spec.trim();
  if (trimmed === '') return Array.from({ length: numTimesteps }, (_, i) => i);
  if (trimmed.startsWith('ddim')) {
    const desired = Number(trimmed.slice(4));
    if (!Number.isInteger(desired) || desired < 1) throw invalid(spec, '`ddim` must be followed by a positive integer', numTimesteps);
    for (let stride = 1; stride < numTimesteps; stride++) {
      if (Math.ceil(numTimesteps / stride) === desired) return Array.from({ length: desired }, (_, k) => k * stride);
    }
    throw invalid(spec, `no integer stride gives exactly ${desired} steps`, numTimesteps);
  }
  const counts = trimmed.split(',').map((s) => s.trim());
  if (counts.some((c) => !/^\d+$/.test(c))) throw invalid(spec, 'every section count must be a non-negative integer', numTimesteps);
  const sectionCounts = counts.map(Number);
  const sizePer = Math.floor(numTimesteps / sectionCounts.length);
  const extra = numTimesteps % sectionCounts.length;
  const kept = new Set<number>();
  let start = 0;
  sectionCounts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw invalid(spec, `a section of ${size} steps cannot hold ${count}`, numTimesteps);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    // The official code accumulates the stride by repeated addition; rounding sees that sum.
    let cursor = 0;
    for (let k = 0; k < count; k++) {
      kept.add(start + roundHalfEven(cursor));
      cursor += stride;
    }
    start += size;
  });
  return [...kept].sort((a, b) => a - b);
}
