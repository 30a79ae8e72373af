/**
 * MAR's sampling schedules (spec/mar.md §6; `MAR.sample_tokens` and `mask_by_order` in
 * LTH14/mar `models/mar.py`): the cosine mask schedule, the order-driven next mask, and
 * the guidance scale of an iteration. Host-side integer bookkeeping, kept separate from
 * the tensor work so it can be tested on its own.
 */
import { TesseraError } from '@tessera/core';

/**
 * Tokens still masked after iteration `step` of `numIterations`:
 * `floor(L·cos(π/2·(step+1)/T))` (float64), clamped so that at least one new token is
 * predicted and at least one stays masked, using the current count `masked`.
 */
export function nextMaskLength(L: number, step: number, numIterations: number, masked: number): number {
  const ratio = Math.cos((Math.PI / 2) * (step + 1) / numIterations);
  return Math.max(1, Math.min(masked - 1, Math.floor(L * ratio)));
}

/** `mask[b, orders[b, :n]] = 1` for every row: the first `n` positions of each order stay masked. */
export function maskByOrder(orders: Int32Array, B: number, L: number, n: number): Uint8Array {
  const mask = new Uint8Array(B * L);
  for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) mask[b * L + orders[b * L + i]] = 1;
  return mask;
}

/** Masked tokens of the first row (all rows have equal counts by construction). */
export function maskedCount(mask: Uint8Array, L: number): number {
  let n = 0;
  for (let l = 0; l < L; l++) n += mask[l];
  return n;
}

/**
 * The positions an iteration predicts, flattened `b·L + l` in row-major order: on the last
 * iteration every still-masked position, otherwise those that leave the mask.
 */
export function positionsToPredict(mask: Uint8Array, maskNext: Uint8Array, last: boolean): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) if (last ? mask[i] : mask[i] !== maskNext[i]) out.push(i);
  return Int32Array.from(out);
}

/**
 * The guidance scale of an iteration. `linear`: `1 + (cfg − 1)·(L − maskLen)/L` with the
 * clamped `maskLen` of this iteration, in float32 as the official tensor arithmetic (so
 * even the last iteration uses (L−1)/L, quirk §9.3); `constant`: `cfg`.
 */
export function iterationCfg(cfg: number, schedule: 'constant' | 'linear', L: number, maskLen: number): number {
  if (schedule === 'constant') return cfg;
  const f = Math.fround;
  return f(1 + f(f(f(cfg - 1) * f(L - maskLen)) / L));
}

export interface IterationPlan {
  /** Masked tokens after the iteration. */
  maskLen: number;
  /** Tokens predicted per image. */
  predicted: number;
}

/** The whole schedule for L tokens over `numIterations` (the same for every image). */
export function iterationPlan(L: number, numIterations: number): IterationPlan[] {
  if (!Number.isInteger(numIterations) || numIterations < 1) {
    throw new TesseraError('CONFIG_INVALID', `\`numIterations\` must be a positive integer, got ${numIterations}`, { subject: 'direction/masked' });
  }
  const plan: IterationPlan[] = [];
  let masked = L;
  for (let s = 0; s < numIterations; s++) {
    const maskLen = nextMaskLength(L, s, numIterations, masked);
    const last = s >= numIterations - 1;
    const predicted = last ? masked : masked - Math.min(masked, maskLen);
    plan.push({ maskLen, predicted });
    masked = last ? 0 : Math.min(masked, maskLen);
  }
  return plan;
}
