/**
 * HART's hybrid tokens (arXiv 2410.10812 §3.1; spec/hart.md §3.5; official
 * `hart_hybrid_quantize.py` `f_to_idxBl_and_frest` and `get_next_autoregressive_input`):
 * discrete multi-scale tokens plus the continuous residual r = f − f̂_d, where the discrete
 * reconstruction f̂_d adds the last scale's codes raw (no φ). The decoder then sees
 * f̂_d + r, i.e. (up to rounding) the encoder's own latent.
 */
import type { Engine, Tensor } from '@tessera/core';
import type { ResidualQuantizer } from './quantizer';

export interface HybridEncoding {
  indices: Tensor[];
  /** Running discrete reconstruction after each scale (last scale raw). */
  fHatScales: Tensor[];
  /** f̂_d: the discrete reconstruction generation accumulates. */
  fHatDiscrete_BChw: Tensor;
  /** r = f − f̂_d, the continuous token map (B, C, h, w). */
  residual_BChw: Tensor;
  /** f minus the reconstruction of scales 0..SN−2, as (B, h·w, C): HART's `last_layer_gt`. */
  restBeforeLast_BLC: Tensor;
}

/** Hybrid encode of latents f (B, C, h, w): tokens with the L2 search (HART ignores using_znorm here). */
export function hybridEncode(F: Engine, quantizer: ResidualQuantizer, f_BChw: Tensor): HybridEncoding {
  const { indices, restBeforeLast_BChw } = quantizer.encode(f_BChw, { phiAtLast: false, znorm: false });
  const fHatScales = quantizer.indicesToFhat(indices, { phiAtLast: false });
  const fHatDiscrete = fHatScales[fHatScales.length - 1];
  const [B, C, h, w] = f_BChw.shape;
  return {
    indices,
    fHatScales,
    fHatDiscrete_BChw: fHatDiscrete,
    residual_BChw: F.sub(f_BChw, fHatDiscrete),
    restBeforeLast_BLC: F.reshape(F.transpose(restBeforeLast_BChw, [0, 2, 3, 1]), [B, h * w, C]), // (B, h, w, C) -> (B, hw, C)
  };
}

/** Features the decoder sees: f̂_d, plus the residual when given (HART decodes both). */
export function hybridFeatures(F: Engine, fHatDiscrete_BChw: Tensor, residual_BChw?: Tensor): Tensor {
  return residual_BChw ? F.add(fHatDiscrete_BChw, residual_BChw) : fHatDiscrete_BChw;
}
