/**
 * HART's training example (HART paper arXiv 2410.10812 §3.2; official
 * `hart/modules/models/transformer/hart_transformer_t2i.py` `HARTForT2I.forward`,
 * `sample_orders`, `random_masking`; spec hart.md §4.7 steps 1–2 and 4, §4.8).
 *
 * Two pieces on top of VAR's teacher forcing (teacher-forcing.ts):
 * - the residual target of hybrid tokens: at every last-scale row, what the ground-truth
 *   code and the tokenizer's continuous residual add up to (HART's `last_layer_gt`), with
 *   the codebook, so the head can learn `last_layer_gt − codebook[drawn token]`;
 * - MAR-style masking of the last scale (option `lastScaleMasking`): a random order per
 *   image and one truncated-normal mask rate r on [0.5, 1] (mode 1, σ 0.25); the first
 *   `n = min(⌈N·r⌉, N − 32)` entries of the order are masked, n read as a Python slice
 *   end, so a negative n masks all but the last |n| (quirk Q13: N ≤ 16 masks nothing).
 *   Masked positions leave the sequence: the backbone sees the coarser scales and the
 *   kept last-scale tokens (with their `positions`), every kept row is predicted, and the
 *   cross-entropy is a plain per-token mean (the official trainer is not released).
 *
 * Draws: one permutation of B·N (its per-image ranks are B independent orders; a recorded
 * (B, N) draw of orders is its own ranks), then the rate.
 */
import { TesseraError } from '@tessera/core';
import type { DrawSource, Engine, ResidualTarget, Tensor, Tokenizer, Tokens, TrainingExample } from '@tessera/core';
import { mapToRows } from './teacher-forcing';

const SUBJECT = 'direction/scale';

/** The sorted last-scale positions each image keeps, and the count K they share. */
export interface LastScaleMask {
  kept: Int32Array[];
  K: number;
}

/** Ranks of the values of one row (0 = smallest): a permutation of 0..n−1. */
function ranks(values: Int32Array): Int32Array {
  const byValue = Int32Array.from(values.keys()).sort((i, j) => values[i] - values[j] || i - j);
  const out = new Int32Array(values.length);
  byValue.forEach((i, r) => { out[i] = r; });
  return out;
}

/** Number of masked positions of N for mask rate `rate`: `order[:min(⌈N·rate⌉, N − 32)]` as a Python slice. */
export function maskedCount(N: number, rate: number): number {
  const n = Math.min(Math.ceil(N * rate), N - 32);
  return n >= 0 ? Math.min(n, N) : Math.max(0, N + n);
}

/** HART's random masking of a last scale of N positions for B images (draws: orders, then the rate). */
export function drawLastScaleMask(draws: DrawSource, B: number, N: number): LastScaleMask {
  const drawn = draws.permutation(B * N, 'last-scale orders');
  const rate = draws.truncatedNormal([1], 1, 0.25, 0.5, 1, 'last-scale mask rate')[0];
  const masked = maskedCount(N, rate);
  const kept = Array.from({ length: B }, (_, b) => {
    const order = ranks(drawn.subarray(b * N, (b + 1) * N));
    const gone = new Uint8Array(N);
    for (let i = 0; i < masked; i++) gone[order[i]] = 1;
    return Int32Array.from(Array.from({ length: N }, (_, p) => p).filter((p) => !gone[p]));
  });
  return { kept, K: N - masked };
}

/**
 * The residual target of hybrid tokens over a full teacher-forced example of `L` rows per
 * image: rows = the last scale's, values = residual + ground-truth code (B·N, C).
 */
export function residualTarget(F: Engine, tokens: Tokens, tokenizer: Tokenizer, patchNums: readonly number[]): ResidualTarget | undefined {
  if (tokens.kind !== 'discrete' || !tokens.residual) return undefined;
  const ms = tokenizer.multiScale;
  const space = tokenizer.space;
  if (!ms || space.kind !== 'discrete') {
    throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${tokenizer.id}\` gives a residual but no discrete multi-scale codebook; direction \`scale\` needs both for HART training`, { subject: SUBJECT });
  }
  const P = patchNums[patchNums.length - 1];
  const N = P * P;
  const L = patchNums.reduce((a, pn) => a + pn * pn, 0);
  const [B, C, h, w] = tokens.residual.shape;
  if (h !== P || w !== P || C !== space.embedDim) {
    throw new TesseraError('SHAPE_MISMATCH', `the residual must be [B, ${space.embedDim}, ${P}, ${P}], got [${tokens.residual.shape.join(', ')}]`, { subject: SUBJECT });
  }
  const rows = new Int32Array(B * N);
  for (let b = 0; b < B; b++) for (let p = 0; p < N; p++) rows[b * N + p] = b * L + L - N + p;
  const residual = tokens.residual;
  const last = tokens.indices[tokens.indices.length - 1];
  return F.tidy(() => ({
    rows: F.tensor(rows, [B * N], 'int32'),
    // last_layer_gt = r + code[gt]: the residual before the last discrete scale (hart.md §3.5)
    values: F.add(F.reshape(mapToRows(F, residual), [B * N, C]), F.reshape(ms.embed(F.cast(last, 'int32')), [B * N, C])),
    codebook: F.reshape(ms.embed(F.reshape(F.arange(0, space.vocab), [1, space.vocab])), [space.vocab, C]), // [1, V, C] -> [V, C]
  }));
}

/** `rows` of a [n, ...] tensor. */
function takeRows(F: Engine, x: Tensor, rows: Int32Array): Tensor {
  return F.gather(x, F.tensor(rows, [rows.length], 'int32'), 0);
}

/**
 * The example restricted to the kept last-scale positions of `mask` (the input example is
 * consumed): inputs, positions, targets (and the residual target) keep the coarser scales
 * and the kept positions in ascending order; the attention's last block has K tokens.
 */
export function maskLastScale(F: Engine, ex: TrainingExample, patchNums: readonly number[], mask: LastScaleMask): TrainingExample {
  const { kept, K } = mask;
  const B = kept.length;
  const P = patchNums[patchNums.length - 1];
  const N = P * P;
  const L = patchNums.reduce((a, pn) => a + pn * pn, 0);
  const first = patchNums[0] ** 2;
  const inL = L - first; // input positions per image (after the start)
  const Lk = L - N + K;
  const inputIndex = new Int32Array(B * (inL - N + K));
  const targetRows = new Int32Array(B * Lk);
  const residualRows = new Int32Array(B * K);
  const keptRows = new Int32Array(B * K);
  for (let b = 0; b < B; b++) {
    const inRow = inputIndex.subarray(b * (inL - N + K), (b + 1) * (inL - N + K));
    const tRow = targetRows.subarray(b * Lk, (b + 1) * Lk);
    for (let i = 0; i < inL - N; i++) inRow[i] = i;
    for (let i = 0; i < L - N; i++) tRow[i] = b * L + i;
    kept[b].forEach((p, j) => {
      inRow[inL - N + j] = inL - N + p;
      tRow[L - N + j] = b * L + L - N + p;
      residualRows[b * K + j] = b * N + p;
      keptRows[b * K + j] = b * Lk + Lk - K + j;
    });
  }
  const flatInput = Int32Array.from(inputIndex, (i, at) => Math.floor(at / (inL - N + K)) * inL + i);
  const out = F.tidy((): TrainingExample => {
    const Cin = ex.inputs.shape[2];
    const inputs = F.reshape(takeRows(F, F.reshape(ex.inputs, [B * inL, Cin]), flatInput), [B, inL - N + K, Cin]); // rows -> [B, I, Cin]
    const target: TrainingExample['target'] = {};
    if (ex.target.indices) target.indices = takeRows(F, ex.target.indices, targetRows);
    if (ex.target.values) target.values = takeRows(F, ex.target.values, targetRows);
    if (ex.target.residual) {
      const r = ex.target.residual;
      target.residual = { rows: F.tensor(keptRows, [B * K], 'int32'), values: takeRows(F, r.values, residualRows), codebook: F.reshape(r.codebook, r.codebook.shape) };
    }
    const blockSizes = [...patchNums.slice(0, -1).map((pn) => pn * pn), K];
    return {
      inputs,
      positions: F.tensor(inputIndex, [B, inL - N + K], 'int32'),
      attention: { kind: 'block-causal', blockSizes },
      levels: F.tensor(levelsOfBlocks(blockSizes), [Lk], 'int32'),
      target,
    };
  });
  disposeExample(F, ex);
  return out;
}

/**
 * VAR's teacher-forced example `ex` made HART's (consumes `ex`): the residual target when
 * the tokens carry a residual, then, with `maskingDraws`, the last scale masked.
 */
export function hartTrainingExample(F: Engine, ex: TrainingExample, tokens: Tokens, tokenizer: Tokenizer, patchNums: readonly number[], maskingDraws?: DrawSource): TrainingExample {
  const residual = residualTarget(F, tokens, tokenizer, patchNums);
  const full = residual ? { ...ex, target: { ...ex.target, residual } } : ex;
  if (!maskingDraws) return full;
  const P = patchNums[patchNums.length - 1];
  return maskLastScale(F, full, patchNums, drawLastScaleMask(maskingDraws, full.inputs.shape[0], P * P));
}

/** Level of each position of consecutive blocks (block k = level k). */
function levelsOfBlocks(blockSizes: number[]): Int32Array {
  return Int32Array.from(blockSizes.flatMap((n, k) => Array<number>(n).fill(k)));
}

/** Frees every tensor of an example. */
export function disposeExample(F: Engine, ex: TrainingExample): void {
  const r = ex.target.residual;
  const all = [ex.inputs, ex.visible, ex.levels, ex.positions, ex.headLevels, ex.target.indices, ex.target.values, ex.weights, r?.rows, r?.values, r?.codebook];
  F.dispose(all.filter((t): t is Tensor => t !== undefined));
}
