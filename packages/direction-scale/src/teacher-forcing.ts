/**
 * Teacher forcing for next-scale prediction (VAR paper arXiv 2404.02905 §3.2; official
 * `trainer.py` `VARTrainer.train_step` and `models/quant.py` `idxBl_to_var_input`; spec
 * var.md §6, §8.2–8.3). The sequence is the scales one after another, coarsest first;
 * scale k's input tokens are the area down-sample of what scales 0..k−1 reconstruct, and
 * attention is block-causal (each scale sees itself and every coarser scale). Loss
 * weights are 1/L per token; progressive training truncates to scales 0..s and scales
 * the newest scale's weights.
 *
 * With a continuous tokenizer (`pyramid` capability) the same order runs over a plain
 * residual pyramid, FAR's "VAR with continuous tokens" (arXiv 2503.05305, Table 4): the
 * target of scale k is the area down-sample of what is left of the latent after the
 * coarser scales, each predicted map is bicubically up-sampled and accumulated (no φ),
 * and the next scale's input is the area down-sample of the accumulated latent.
 *
 * HART's additions (the residual target of hybrid tokens, the masked last scale) are
 * applied to this example by hart-training.ts.
 */
import { TesseraError } from '@tessera/core';
import type { Engine, LatentPyramid, Tensor, Tokenizer, Tokens, TrainingExample } from '@tessera/core';

const SUBJECT = 'direction/scale';

/** VAR's progressive stage: train scales 0..scale, the newest weighted by `weight`. */
export interface ProgressiveStage {
  scale: number;
  weight: number;
}

/** Level (scale index) of each position of scales 0..K−1. */
export function levelsOf(patchNums: readonly number[]): Int32Array {
  return Int32Array.from(patchNums.flatMap((pn, k) => Array<number>(pn * pn).fill(k)));
}

/** Per-position weights 1/L (L of the whole list), the last kept scale times `weight`. */
function positionWeights(patchNums: readonly number[], kept: number, stageWeight: number): Float32Array {
  const L = patchNums.reduce((a, pn) => a + pn * pn, 0);
  const w = new Float32Array(levelsOf(patchNums.slice(0, kept)).length).fill(1 / L);
  if (kept < patchNums.length) {
    const last = patchNums[kept - 1] ** 2;
    for (let i = w.length - last; i < w.length; i++) w[i] = Math.fround(w[i] * stageWeight);
  }
  return w;
}

/** (B, C, pn, pn) → (B, pn², C), row-major positions. */
export function mapToRows(F: Engine, x_BChw: Tensor): Tensor {
  const [B, C, h, w] = x_BChw.shape;
  return F.transpose(F.reshape(x_BChw, [B, C, h * w]), [0, 2, 1]); // (B, C, hw) -> (B, hw, C)
}

/** (B, pn², C) → (B, C, pn, pn). */
export function rowsToMap(F: Engine, x_BlC: Tensor, pn: number): Tensor {
  const [B, , C] = x_BlC.shape;
  return F.reshape(F.transpose(x_BlC, [0, 2, 1]), [B, C, pn, pn]); // (B, l, C) -> (B, C, l) -> (B, C, pn, pn)
}

/**
 * The teacher-forced example of a batch's tokens: inputs [B, L' − pn_0², Cin], the
 * block-causal pattern, levels [L'], targets and weights [B·L'] (L' = L, or the positions
 * of the progressive stage's scales) and `lossScale` = Σ_t w_t, which turns the head's
 * weighted mean Σwℓ/Σw into VAR's mean_b Σ_t w_t·ℓ_{b,t}.
 */
export function teacherForcingExample(F: Engine, tokens: Tokens, tokenizer: Tokenizer, patchNums: number[], stage: ProgressiveStage | null): TrainingExample {
  const K = patchNums.length;
  const kept = stage && stage.scale < K - 1 ? stage.scale + 1 : K;
  const pns = patchNums.slice(0, kept);
  const w_L = positionWeights(patchNums, kept, stage?.weight ?? 1);
  const levels = levelsOf(pns);
  const Lk = levels.length;
  const firstL = pns[0] ** 2;
  return F.tidy(() => {
    let inputs: Tensor;
    let B: number;
    const target: TrainingExample['target'] = {};
    if (tokens.kind === 'discrete') {
      const ms = tokenizer.multiScale;
      if (!ms) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${tokenizer.id}\` has discrete tokens but no multi-scale quantizer; direction \`scale\` needs one (\`multi-scale\`)`, { subject: SUBJECT });
      if (tokens.indices.length !== K) {
        throw new TesseraError('SHAPE_MISMATCH', `expected token maps of ${K} scales (${patchNums.join(', ')}), got ${tokens.indices.length}`, { subject: SUBJECT });
      }
      B = tokens.indices[0].shape[0];
      const all = ms.teacherForcingInput(tokens.indices);
      inputs = F.slice(all, [0, 0, 0], [B, Lk - firstL, all.shape[2]]);
      target.indices = F.reshape(F.concat(tokens.indices.slice(0, kept).map((t) => F.cast(t, 'int32')), 1), [B * Lk]);
    } else {
      const pyramid = requirePyramid(tokenizer);
      B = tokens.latent.shape[0];
      const { inputs_BLC, targets_BLC } = pyramidTeacherForcing(F, pyramid, tokens.latent, patchNums, kept);
      inputs = inputs_BLC;
      target.values = F.reshape(targets_BLC, [B * Lk, targets_BLC.shape[2]]);
    }
    const weights = F.reshape(F.tile(F.tensor(w_L, [1, Lk]), [B, 1]), [B * Lk]);
    return {
      inputs,
      attention: { kind: 'block-causal' as const, blockSizes: pns.map((pn) => pn * pn) },
      levels: F.tensor(levels, [Lk], 'int32'),
      target,
      weights,
      lossScale: w_L.reduce((a, b) => a + b, 0),
    };
  });
}

export function requirePyramid(tokenizer: Tokenizer): LatentPyramid {
  if (!tokenizer.pyramid) {
    throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${tokenizer.id}\` has continuous tokens but no \`pyramid\` view; direction \`scale\` needs one. Use tokenizer \`vae\`, or a multi-scale discrete tokenizer such as \`msvq\``, { subject: SUBJECT });
  }
  return tokenizer.pyramid;
}

/**
 * The continuous pyramid of a latent (B, C, P, P): per scale the target (the area
 * down-sample of the remaining residual; the residual itself at the last scale) and the
 * input of the next scale (the area down-sample of the accumulated reconstruction).
 */
export function pyramidTeacherForcing(F: Engine, pyramid: LatentPyramid, latent_BCPP: Tensor, patchNums: number[], kept: number): { inputs_BLC: Tensor; targets_BLC: Tensor } {
  const [B, C, H, W] = latent_BCPP.shape;
  const P = patchNums[patchNums.length - 1];
  if (H !== P || W !== P) {
    throw new TesseraError('SHAPE_MISMATCH', `the last scale (${P}) must equal the latent side, got ${H}x${W}`, { subject: SUBJECT, data: { patchNums, H, W } });
  }
  let rest = latent_BCPP;
  let fHat = F.zeros(latent_BCPP.shape);
  const inputs: Tensor[] = [];
  const targets: Tensor[] = [];
  for (let k = 0; k < kept; k++) {
    const pn = patchNums[k];
    const h = pn === P ? rest : pyramid.down(rest, [pn, pn]);
    targets.push(mapToRows(F, h));
    const up = pn === P ? h : pyramid.up(h, [P, P]);
    fHat = F.add(fHat, up);
    rest = F.sub(rest, up);
    if (k + 1 < kept) {
      const next = patchNums[k + 1];
      inputs.push(mapToRows(F, next === P ? fHat : pyramid.down(fHat, [next, next])));
    }
  }
  return { inputs_BLC: inputs.length ? F.concat(inputs, 1) : F.zeros([B, 0, C]), targets_BLC: F.concat(targets, 1) };
}
