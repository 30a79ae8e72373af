/**
 * Reduced precision for traced graphs: linear layers with int8 weights (`precision: 'int8'`
 * of the onnx engine). Not part of any paper or official code: the official samplers run
 * in float32. It trades a bounded error in every linear layer's output for onnxruntime's
 * int8 GEMM (AVX-512 VNNI on x86), ~3× the speed of its float32 GEMM on this project's CPU
 * (BENCHMARKS.md, "Reduced precision").
 *
 * Weights W[out, in] are quantized once per parameter tensor, symmetrically per output
 * channel: s_o = max_i |W[o, i]| / 127, q[o, i] = round(W[o, i] / s_o) in [-127, 127],
 * stored transposed as int8 [in, out] with the scales s[out] as float constants.
 * Activations are quantized per tensor at run time (uint8 with a zero point, by
 * onnxruntime), all inside the contrib op `DynamicQuantizeMatMul` (com.microsoft), which
 * onnxruntime's CPU provider runs as DynamicQuantizeLinear + MatMulInteger + rescale in
 * one kernel; the bias is added in float32. Only weights that are concrete tensors in a
 * trace (a module's parameters) are lowered; matmuls of two activations stay float32.
 */
import type { Value, GraphBuilder } from './graph';
import { reshape } from './lower';
import { shapeError } from './shapes';

/** `fp32`; `int8`: int8 linear layers; `int8-conv`: int8 linear layers and convolutions (quantize-conv.ts). */
export type Precision = 'fp32' | 'int8' | 'int8-conv';

/** A weight [out, in] quantized per output channel, transposed for `DynamicQuantizeMatMul`. */
export interface QuantizedWeight {
  /** int8 [in, out]. */
  readonly q_IO: Int8Array;
  /** float32 [out]: W[o, :] ≈ q[:, o] · scales[o]. */
  readonly scales_O: Float32Array;
  readonly outFeatures: number;
  readonly inFeatures: number;
}

/** Symmetric per-row int8 quantization of W[out, in] (row-major float32 data). */
export function quantizeRows(w_OI: Float32Array, outFeatures: number, inFeatures: number): QuantizedWeight {
  const q_IO = new Int8Array(outFeatures * inFeatures);
  const scales_O = new Float32Array(outFeatures);
  for (let o = 0; o < outFeatures; o++) {
    const row = o * inFeatures;
    let amax = 0;
    for (let i = 0; i < inFeatures; i++) amax = Math.max(amax, Math.abs(w_OI[row + i]));
    const s = amax > 0 ? amax / 127 : 1;
    scales_O[o] = s;
    for (let i = 0; i < inFeatures; i++) q_IO[i * outFeatures + o] = Math.max(-127, Math.min(127, Math.round(w_OI[row + i] / s)));
  }
  return { q_IO, scales_O, outFeatures, inFeatures };
}

/** x[..., in] W^T + b with W int8 (one `DynamicQuantizeMatMul` on the flattened rows). */
export function linearInt8(g: GraphBuilder, x: Value, w: QuantizedWeight, b: Value | undefined): Value {
  const inF = x.shape[x.shape.length - 1];
  if (inF !== w.inFeatures) throw shapeError('linear', `weight [${w.outFeatures}, ${w.inFeatures}] does not fit input [${x.shape.join(', ')}]`);
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const x2 = x.shape.length === 2 ? x : reshape(g, x, [rows, inF]);
  const q = g.int8Constant(w.q_IO, [w.inFeatures, w.outFeatures]);
  const scales = g.constant(w.scales_O, 'float32', [w.outFeatures]);
  const zeros = g.int8Constant(new Int8Array(w.outFeatures), [w.outFeatures]);
  const [name] = g.node('DynamicQuantizeMatMul', [x2.name, q, scales.name, zeros, ...(b ? [b.name] : [])], {}, 1, 'com.microsoft');
  g.shapes.set(name, [rows, w.outFeatures]);
  const y = { name, shape: [rows, w.outFeatures], dtype: 'float32' as const };
  return x.shape.length === 2 ? y : reshape(g, y, [...x.shape.slice(0, -1), w.outFeatures]);
}
