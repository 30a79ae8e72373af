/**
 * Layer ops written once in terms of primitive ops. Engines that have no fused kernel
 * for one of these use the composite; an engine with a faster fused kernel (onnx:
 * LayerNormalization, Attention) overrides it, and parity tests check both agree.
 */
import type { AttentionOptions, InterpolationMode, Ops, Tensor } from './ops';
import { resizeMatrix32 } from './interp';

type Prims = Pick<Ops, 'add' | 'sub' | 'mul' | 'div' | 'matmul' | 'mean' | 'rsqrt' | 'reshape' | 'transpose' | 'softmax' | 'square'> & {
  tensor(data: Float32Array, shape: readonly number[]): Tensor;
};

export function layerNormComposite(o: Prims, x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
  const axis = x.shape.length - 1;
  const mu = o.mean(x, axis, true);
  const centered = o.sub(x, mu);
  const variance = o.mean(o.square(centered), axis, true);
  let y = o.mul(centered, o.rsqrt(o.add(variance, eps)));
  if (weight) y = o.mul(y, weight);
  if (bias) y = o.add(y, bias);
  return y;
}

export function groupNormComposite(o: Prims, x: Tensor, groups: number, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
  const [B, C, H, W] = x.shape;
  const g_BGn = o.reshape(x, [B, groups, (C / groups) * H * W]);
  const mu = o.mean(g_BGn, 2, true);
  const centered = o.sub(g_BGn, mu);
  const variance = o.mean(o.square(centered), 2, true);
  let y = o.reshape(o.mul(centered, o.rsqrt(o.add(variance, eps))), [B, C, H, W]);
  if (weight) y = o.mul(y, o.reshape(weight, [1, C, 1, 1]));
  if (bias) y = o.add(y, o.reshape(bias, [1, C, 1, 1]));
  return y;
}

export function attentionComposite(o: Prims, q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const D = q.shape[q.shape.length - 1];
  const scale = options.scale ?? 1 / Math.sqrt(D);
  let scores_BHLL = o.mul(o.matmul(q, k, false, true), scale);
  if (options.mask) scores_BHLL = o.add(scores_BHLL, options.mask);
  return o.matmul(o.softmax(scores_BHLL, -1), v);
}

/** Separable resize: rows then columns, each a matmul with a resampling matrix. */
export function interpolateComposite(o: Prims, x: Tensor, size: [number, number], mode: InterpolationMode): Tensor {
  const [N, C, H, W] = x.shape;
  const [Ho, Wo] = size;
  if (Ho === H && Wo === W) return x; // every mode is the identity at equal size
  const rw_WWo = o.tensor(transpose2d(resizeMatrix32(W, Wo, mode), Wo, W), [W, Wo]);
  const rh_HHo = o.tensor(transpose2d(resizeMatrix32(H, Ho, mode), Ho, H), [H, Ho]);
  const cols = o.matmul(o.reshape(x, [N * C * H, W]), rw_WWo); // (N*C*H, Wo)
  const t_NCWoH = o.transpose(o.reshape(cols, [N * C, H, Wo]), [0, 2, 1]); // (N*C, Wo, H)
  const rows = o.matmul(o.reshape(t_NCWoH, [N * C * Wo, H]), rh_HHo); // (N*C*Wo, Ho)
  return o.reshape(o.transpose(o.reshape(rows, [N * C, Wo, Ho]), [0, 2, 1]), [N, C, Ho, Wo]);
}

function transpose2d(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}
