/**
 * HART's rotary position embedding (spec/hart.md §4.4, quirk Q6; mit-han-lab/hart
 * `hart/modules/networks/basic_hart.py` `get_position_ids`, `LlamaRotaryEmbedding1D`,
 * `LlamaRotaryEmbedding`, `apply_rotary_pos_emb`).
 *
 * Context tokens get HF-Llama 1-D RoPE at their position ids. Image tokens of scale k
 * (side pn) get 2-D positions (row, col)·(P/pn) with P the last side, offset by the last
 * context position id; their table is [row·f, row·f, col·f, col·f] over the head
 * dimension with f_j = 10000^(−4j/dh), and the same `rotate_half` over the whole head
 * pairs channel d with d + dh/2, so a row angle meets a column angle (reproduced as is).
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import type { Rotary } from './attention';

/** 1 / base^(i/dim) for i = 0, step, 2·step, ... < dim, rounded as torch computes it in float32. */
function inverseFrequencies(dim: number, step: number, base = 10000): Float32Array {
  const out = new Float32Array(Math.ceil(dim / step));
  for (let j = 0; j < out.length; j++) {
    const exponent = Math.fround(Math.fround(j * step) / dim);
    out[j] = Math.fround(1 / Math.fround(base ** exponent));
  }
  return out;
}

/**
 * 2-D positions (row, col) of the tokens of scales `patchNums[from..]`, row-major per
 * scale, scaled to the last side: float32 `(i / pn) · P`, as `get_position_ids`. (N, 2).
 */
export function imageGridPositions(patchNums: readonly number[], from: number): Float32Array {
  const P = patchNums[patchNums.length - 1];
  const out: number[] = [];
  for (const pn of patchNums.slice(from)) {
    for (let i = 0; i < pn; i++) {
      for (let j = 0; j < pn; j++) out.push(Math.fround(Math.fround(i / pn) * P), Math.fround(Math.fround(j / pn) * P));
    }
  }
  return Float32Array.from(out);
}

/**
 * 2-D RoPE positions (B, N, 2) of image tokens (scales 1..SN−1): their grid position
 * plus the last context position id of their row; `imageIndex_BN` picks tokens of the
 * image sequence (default: all of them).
 */
export function imagePositions(F: Engine, patchNums: readonly number[], contextPos_BT: Tensor, imageIndex_BN?: Tensor): Tensor {
  const [B, T] = contextPos_BT.shape;
  const grid = imageGridPositions(patchNums, 1);
  const grid_N2 = F.tensor(grid, [grid.length / 2, 2]);
  const pos_BN2 = imageIndex_BN ? F.gather(grid_N2, imageIndex_BN, 0) : F.expandDims(grid_N2, 0);
  const offset_B11 = F.reshape(F.cast(F.slice(contextPos_BT, [0, T - 1], [B, 1]), 'float32'), [B, 1, 1]);
  return F.add(pos_BN2, offset_B11);
}

/** cos/sin of 1-D RoPE at int positions `pos_BT`: tables (B, T, dh) = angles [f, f]. */
export function contextRotary(F: Engine, pos_BT: Tensor, headDim: number): Rotary {
  const inv = inverseFrequencies(headDim, 2);
  const invTwice_d = F.tensor(Float32Array.from([...inv, ...inv]), [headDim]);
  const angles_BTd = F.mul(F.expandDims(F.cast(pos_BT, 'float32'), 2), invTwice_d);
  return { cos_BLd: F.cos(angles_BTd), sin_BLd: F.sin(angles_BTd) };
}

/** cos/sin of HART's 2-D RoPE at float positions `pos_BN2` (row, col): tables (B, N, dh). */
export function imageRotary(F: Engine, pos_BN2: Tensor, headDim: number): Rotary {
  const inv = inverseFrequencies(headDim, 4);
  const invTwice_h = F.tensor(Float32Array.from([...inv, ...inv]), [headDim / 2]);
  const [row_BN1, col_BN1] = F.split(pos_BN2, [1, 1], 2);
  const angles_BNd = F.concat([F.mul(row_BN1, invTwice_h), F.mul(col_BN1, invTwice_h)], 2);
  return { cos_BLd: F.cos(angles_BNd), sin_BLd: F.sin(angles_BNd) };
}

/** Concatenates rotary tables along the sequence. */
export function concatRotary(F: Engine, parts: Rotary[]): Rotary {
  if (parts.length === 1) return parts[0];
  return { cos_BLd: F.concat(parts.map((p) => p.cos_BLd), 1), sin_BLd: F.concat(parts.map((p) => p.sin_BLd), 1) };
}
