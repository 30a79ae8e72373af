/**
 * Sequence bookkeeping of next-scale transformers (spec/var.md §1, §5.2; spec/hart.md
 * §4.1): the level (scale index) of every position, and the additive attention mask of
 * an attention pattern. VAR stores both as checkpoint buffers (`lvl_1L`,
 * `attn_bias_for_masking`); here they are derived from the configuration, and the mask
 * comes from the pattern the direction asks for.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import type { AttentionPattern } from '../../contracts/backbone';
import { TesseraError } from '../../errors';

/** Sizes of consecutive blocks of one level each: VAR `[pn_0², pn_1², ...]`, HART `[T, pn_1², ...]`. */
export function levelBlockSizes(patchNums: readonly number[], contextTokens?: number): number[] {
  const sizes = patchNums.map((pn) => pn * pn);
  if (contextTokens !== undefined) sizes[0] = contextTokens;
  return sizes;
}

/** Level index of each position of a sequence made of `blockSizes` blocks. */
export function levelsOf(blockSizes: readonly number[]): Int32Array {
  const total = blockSizes.reduce((a, b) => a + b, 0);
  const out = new Int32Array(total);
  let at = 0;
  blockSizes.forEach((n, level) => {
    out.fill(level, at, at + n);
    at += n;
  });
  return out;
}

/** The checkpoint buffer `attn_bias_for_masking` (L×L): 0 where level(query) ≥ level(key), else −inf. */
export function blockCausalBias(levels: Int32Array): Float32Array {
  const L = levels.length;
  const out = new Float32Array(L * L);
  for (let q = 0; q < L; q++) for (let k = 0; k < L; k++) if (levels[q] < levels[k]) out[q * L + k] = -Infinity;
  return out;
}

/**
 * The additive mask [1, 1, Lq, Lk] for query positions [start, start + Lq) against key
 * positions [0, start + Lq) under `pattern`; undefined when nothing is masked.
 */
export function attentionMask(F: Engine, pattern: AttentionPattern, start: number, length: number): Tensor | undefined {
  if (pattern.kind === 'bidirectional') return undefined;
  const keys = start + length;
  let visible: (q: number, k: number) => boolean;
  if (pattern.kind === 'causal') {
    visible = (q, k) => k <= q;
  } else {
    const levels = levelsOf(pattern.blockSizes);
    if (levels.length < keys) {
      throw new TesseraError('SHAPE_MISMATCH', `block-causal pattern covers ${levels.length} positions, the sequence has ${keys}`, {
        data: { covered: levels.length, length: keys },
      });
    }
    visible = (q, k) => levels[q] >= levels[k];
  }
  const mask = new Float32Array(length * keys);
  let any = false;
  for (let i = 0; i < length; i++) {
    for (let k = 0; k < keys; k++) {
      if (!visible(start + i, k)) {
        mask[i * keys + k] = -Infinity;
        any = true;
      }
    }
  }
  return any ? F.tensor(mask, [1, 1, length, keys]) : undefined;
}

/** Checks that a sequence of `length` positions fits the model's `capacity`. */
export function checkLength(what: string, length: number, capacity: number): void {
  if (length > capacity) {
    throw new TesseraError('SHAPE_MISMATCH', `${what}: ${length} positions exceed the ${capacity} this backbone was built for (patchNums)`, {
      data: { length, capacity },
    });
  }
}
