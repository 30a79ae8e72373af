/**
 * HART's joint training objective for a categorical head that composes a residual head
 * (HART paper arXiv 2410.10812 §3.2 "residual diffusion"; official
 * `hart/modules/models/transformer/hart_transformer_t2i.py` `HARTForT2I.forward` and
 * `forward_diff_loss`; spec hart.md §4.7 steps 6–8, §4.8, §5.3).
 *
 * At the rows that carry a residual (the kept positions of the last scale) a token is
 * drawn from the head's own logits — top-k 600, top-p 0.96, one multinomial draw per row,
 * outside the gradient — and the residual head learns what that token's code leaves of
 * the continuous target: condition `residualCondition(hidden, codebook[token])` (the
 * backbone's `decoder_norm(hidden + word_embed(code))`), target `values − codebook[token]`
 * (`last_layer_gt − codebook[sampled]`). When top-k exceeds the vocabulary the official
 * top-k raises inside a `try` and the ground-truth tokens are used instead (quirk Q4);
 * that is kept, so a small vocabulary trains on the true residual. The residual head
 * tiles its rows itself (`diffusion_batch_mul`). Loss = cross-entropy + residual loss.
 */
import { TesseraError } from '@tessera/core';
import type { DrawSource, Engine, Head, HeadInput, HeadObserver, ResidualTarget, Tensor } from '@tessera/core';
import { softmaxRows, topKFilter_, topPFilter_ } from './sampling';

const SUBJECT = 'head/categorical';

/** How the tokens that condition the residual head are drawn in training. */
export interface ResidualTokenSettings {
  topK: number;
  topP: number;
}

/**
 * One token per row of `logits_RV` (host rows, modified in place as the official filter
 * is): top-k, top-p, softmax, then `draws.multinomial` (torch.multinomial with the model's
 * generator). `topK` above the vocabulary: the ground-truth tokens `gt_R`, no draw (Q4).
 */
export function drawResidualTokens_(logits_RV: Float32Array, V: number, settings: ResidualTokenSettings, gt_R: Int32Array, draws: DrawSource): Int32Array {
  if (settings.topK > V) return Int32Array.from(gt_R);
  topKFilter_(logits_RV, V, settings.topK);
  topPFilter_(logits_RV, V, settings.topP);
  return draws.multinomial(softmaxRows(logits_RV, V), logits_RV.length / V, V, 1, 'residual tokens');
}

const hostCopy = (F: Engine, t: Tensor): Float32Array | Int32Array => (F.readSync(t) as Float32Array | Int32Array).slice();

/**
 * The residual head's loss at `target.rows`: draws the conditioning tokens from
 * `logits_NV` (N = the rows of `z`), builds condition and target, and returns the residual
 * head's mean loss. `observe` sees `residual.indices`, `residual.condition` [R, D],
 * `residual.target` [R, C] and the residual head's own names prefixed `residual.`.
 */
export function residualLoss(
  F: Engine, residualHead: Head, input: HeadInput, logits_NV: Tensor, gt_N: Tensor, target: ResidualTarget,
  settings: ResidualTokenSettings, draws: DrawSource, observe?: HeadObserver,
): Tensor {
  if (!input.residualCondition) {
    throw new TesseraError('PLUGIN_INCOMPATIBLE', 'the residual head trains on a condition from the backbone (`residualCondition`), and the loss input has none; use backbone `adaln` with variant `hart`, and pass its `residualCondition` with the hidden states', { subject: SUBJECT });
  }
  const condition = input.residualCondition;
  const [V, C] = target.codebook.shape;
  const R = target.rows.shape[0];
  if (target.values.shape[0] !== R || target.values.shape[1] !== C) {
    throw new TesseraError('SHAPE_MISMATCH', `residual values must be [${R}, ${C}] (rows × code width), got [${target.values.shape.join(', ')}]`, { subject: SUBJECT });
  }
  // The tokens are drawn without gradient, from host copies of the rows' logits.
  const [logits_RV, gt_R] = F.tidy(() => [F.gather(F.stopGradient(logits_NV), target.rows, 0), F.gather(gt_N, target.rows, 0)]);
  let ids_R: Int32Array;
  try {
    ids_R = drawResidualTokens_(Float32Array.from(F.readSync(logits_RV) as Float32Array), V, settings, Int32Array.from(F.readSync(gt_R)), draws);
  } finally {
    F.dispose([logits_RV, gt_R]);
  }
  return F.tidy(() => {
    const codes_RC = F.gather(target.codebook, F.tensor(ids_R, [R], 'int32'), 0);
    const z_ND = F.reshape(input.z, [-1, input.z.shape[input.z.shape.length - 1]]); // [..., D] -> rows
    const hidden_1RD = F.expandDims(F.gather(z_ND, target.rows, 0), 0);
    const cond_RD = F.reshape(condition(hidden_1RD, F.expandDims(codes_RC, 0)), [R, -1]); // [1, R, D] -> [R, D]
    const values_RC = F.sub(target.values, codes_RC);
    if (observe) {
      observe('residual.indices', { dtype: 'int32', shape: [R], data: Int32Array.from(ids_R) });
      observe('residual.condition', { dtype: 'float32', shape: [...cond_RD.shape], data: hostCopy(F, cond_RD) as Float32Array });
      observe('residual.target', { dtype: 'float32', shape: [R, C], data: hostCopy(F, values_RC) as Float32Array });
    }
    const prefixed = observe ? (name: string, v: Parameters<HeadObserver>[1]): void => observe(`residual.${name}`, v) : undefined;
    return residualHead.loss({ z: cond_RD }, { values: values_RC }, undefined, draws, prefixed);
  });
}
