/**
 * Cross-entropy with label smoothing and per-token weights, as VAR trains its
 * transformer (official `trainer.py`: `nn.CrossEntropyLoss(label_smoothing=ε,
 * reduction='none')`, then `loss.mul(loss_weight).sum(-1).mean()` with weights 1/L;
 * spec var.md §8.2). Written with engine ops only, so it differentiates on any engine.
 *
 * Per token: `ℓ = −(1 − ε)·log p(gt) − (ε / V)·Σ_v log p(v)`, computed as torch does
 * (the two terms separately, so ε = 0 is the plain negative log-likelihood).
 */
import { Engine, Tensor, TesseraError } from '@tessera/core';

/**
 * Per-token label-smoothed cross-entropy: `logits_NV` float [N, V], `target_N` int32
 * [N] → `ce_N` [N].
 */
export function crossEntropy(F: Engine, logits_NV: Tensor, target_N: Tensor, labelSmoothing = 0): Tensor {
  const [N, V] = logits_NV.shape;
  if (logits_NV.shape.length !== 2 || target_N.shape.length !== 1 || target_N.shape[0] !== N) {
    throw new TesseraError('SHAPE_MISMATCH', `cross-entropy needs logits [N, V] and targets [N]; got [${logits_NV.shape.join(', ')}] and [${target_N.shape.join(', ')}]`, {
      subject: 'head/categorical', data: { logits: [...logits_NV.shape], target: [...target_N.shape] },
    });
  }
  return F.tidy(() => {
    const logp_NV = F.logSoftmax(logits_NV, -1);
    const nll_N = F.neg(F.sum(F.mul(logp_NV, F.oneHot(target_N, V)), -1));
    if (labelSmoothing === 0) return nll_N;
    const smooth_N = F.neg(F.sum(logp_NV, -1));
    return F.add(F.mul(nll_N, 1 - labelSmoothing), F.mul(smooth_N, labelSmoothing / V));
  });
}

/**
 * The weighted mean of per-token losses: `Σ w·ℓ / Σ w` (plain mean without weights).
 * With VAR's uniform weights 1/L over full sequences this equals VAR's
 * `mean_b Σ_t ℓ_{b,t} / L`.
 */
export function weightedMean(F: Engine, loss_N: Tensor, weights_N: Tensor | undefined): Tensor {
  if (!weights_N) return F.mean(loss_N);
  if (weights_N.shape.length !== 1 || weights_N.shape[0] !== loss_N.shape[0]) {
    throw new TesseraError('SHAPE_MISMATCH', `loss weights must be [${loss_N.shape[0]}], got [${weights_N.shape.join(', ')}]`, {
      subject: 'head/categorical', data: { expected: [loss_N.shape[0]], got: [...weights_N.shape] },
    });
  }
  return F.tidy(() => {
    const w_N = weights_N.dtype === 'float32' ? weights_N : F.cast(weights_N, 'float32');
    return F.div(F.sum(F.mul(loss_N, w_N)), F.sum(w_N));
  });
}

/**
 * VAR's own reduction `mean_b Σ_t w_t·ℓ_{b,t}` for `loss_BL` [B, L] and weights
 * `weights_L` [L] (or [B, L]). The weights are not renormalised: in VAR's progressive
 * training they stay 1/L_full on a truncated sequence and the newest scale is damped
 * by `prog_wp`, which a weighted mean would undo.
 */
export function batchMeanOfWeightedSums(F: Engine, loss_BL: Tensor, weights_L: Tensor): Tensor {
  const [B, L] = loss_BL.shape;
  const w = weights_L.shape;
  if (loss_BL.shape.length !== 2 || !((w.length === 1 && w[0] === L) || (w.length === 2 && w[0] === B && w[1] === L))) {
    throw new TesseraError('SHAPE_MISMATCH', `VAR's reduction needs losses [B, L] and weights [L] or [B, L]; got [${loss_BL.shape.join(', ')}] and [${w.join(', ')}]`, {
      subject: 'head/categorical', data: { loss: [...loss_BL.shape], weights: [...w] },
    });
  }
  return F.tidy(() => F.mean(F.sum(F.mul(loss_BL, weights_L), -1)));
}
