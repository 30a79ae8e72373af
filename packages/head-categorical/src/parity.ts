/**
 * Parity handler for `var.sample.topk_topp` (spec var.md §7.3 and §12): VAR's
 * `sample_with_top_k_top_p_` on given logits [B, l, V] — the in-place top-k then top-p
 * masking (`filtered_logits`, −∞ = removed), `probs = softmax(filtered)`, and one token
 * per position by the exponential race on the recorded `exp_q` draw (`idx`, exact).
 * The official call's `top_k = 0` / `top_p = 0` mean "off"; here that is null.
 */
import { HostTensor, ParityHandler, ParityOutputs, TesseraError, toFloat32 } from '@tessera/core';
import { sampleTokens_ } from './sampling';

export const sampleTopkToppHandler: ParityHandler = {
  kind: 'var.sample.topk_topp',
  async run(c) {
    const logits = c.input('logits');
    const V = logits.shape[logits.shape.length - 1];
    const numSamples = (c.manifest.config.call as { num_samples?: number } | undefined)?.num_samples ?? 1;
    if (numSamples !== 1) {
      throw new TesseraError('MANIFEST_INVALID', `\`${c.file}\`: only one sample per position is implemented, got num_samples ${numSamples}`, { subject: c.file });
    }
    const topK = c.config<number>('call.top_k');
    const topP = c.config<number>('call.top_p');
    const x_RV = Float32Array.from(toFloat32(logits));
    const draws = c.draws();
    const result = sampleTokens_(x_RV, V, { topK: topK > 0 ? topK : null, topP: topP > 0 ? topP : null }, draws);
    if (draws.remaining !== 0) {
      throw new TesseraError('DRAW_MISMATCH', `\`${c.file}\`: ${draws.remaining} recorded draws were not consumed`, { subject: c.file });
    }
    const lead = logits.shape.slice(0, -1);
    const host = (data: Float32Array | Int32Array, shape: readonly number[]): HostTensor =>
      ({ dtype: data instanceof Int32Array ? 'int32' : 'float32', shape: [...shape], data });
    const out: ParityOutputs = new Map();
    out.set('filtered_logits', host(result.filtered_RV, logits.shape));
    out.set('probs', host(result.probs_RV, logits.shape));
    out.set('idx', host(result.idx_R, lead));
    return out;
  },
};

export const categoricalParityHandlers: ParityHandler[] = [sampleTopkToppHandler];
