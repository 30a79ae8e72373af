/**
 * Reduced precision for traced graphs, convolutions: a `conv2d` with a parameter filter
 * becomes an int8 convolution (`precision: 'int8'` of the onnx engine; quantize.ts does
 * the same for linear layers). Not part of any paper or official code: the official
 * tokenizers decode in float32. Each convolution's output moves by ~0.5-2% rms; through
 * VAR-d16's 51 decoder convolutions that adds up to ~35 dB PSNR against float32. In
 * exchange onnxruntime's int8 GEMM (AVX-512 VNNI on x86) runs the decoders' 3×3
 * convolutions 1.05-2.2× faster than its float32 `Conv` (the least at 256×256, where
 * the im2col buffer is large) (BENCHMARKS.md, "Reduced precision").
 *
 * Filters W[o, i, kh, kw] are quantized once per parameter tensor, symmetrically per output
 * channel: s_o = max |W[o, ...]| / 127, q = round(W / s_o) in [-127, 127]. Activations are
 * quantized per tensor at run time by `DynamicQuantizeLinear` (uint8 x_q, scale s_x, zero
 * point z_x); the standard `ConvInteger` computes Σ (x_q - z_x) · q in int32, and
 * y = that · s_x · s_o + bias in float32 (Cast, Mul by [1, O, 1, 1], Add).
 *
 * Why the operand types are what they are: onnxruntime's CPU `ConvInteger` reaches its
 * VNNI kernel only with int8 activations and uint8 filters. Measured on one convolution:
 * uint8 activations with int8 filters, or int8 with int8, run at ~40 GOP/s (a quarter of
 * float32), uint8 with uint8 about as fast as float32. So the filter is stored as q + 128
 * with zero point 128, and the uint8 activations move to int8 exactly by flipping their
 * top bit (x_q ^ 0x80 read as int8 is x_q - 128; the zero point moves with them, and
 * `ConvInteger` pads with the zero point, so padding stays an exact 0). onnxruntime takes
 * one filter zero point per tensor only, which symmetric filters satisfy; the per-channel
 * scales are applied after the integer convolution. Strides, dilations and padding are
 * the kernel's own attributes; only groups = 1 is lowered (a grouped or depthwise
 * convolution would run one small GEMM per group), grouped convolutions stay float32.
 *
 * On x86 CPUs without VNNI, onnxruntime's uint8 × int8 kernels may saturate 16-bit
 * intermediate sums, as `DynamicQuantizeMatMul` may (quantize.ts): `int8` is meant for
 * CPUs with VNNI.
 */
import type { GraphBuilder, Value } from './graph';
import type { ConvAttrs } from './lower';
import { reshape } from './lower';
import { convShape } from './shapes';

/** ONNX TensorProto.DataType codes for `Cast`'s `to`. */
const FLOAT32 = 1, UINT8 = 2, INT8 = 3;

/** A filter [out, in, kh, kw] quantized per output channel, stored as `ConvInteger` reads it. */
export interface QuantizedFilter {
  /** q + 128 (uint8 with zero point 128), same layout as the float filter: W[o, ...] ≈ (u8[o, ...] - 128) · scales[o]. */
  readonly u8_OIhw: Uint8Array;
  /** float32 [out]. */
  readonly scales_O: Float32Array;
  readonly shape: readonly [number, number, number, number];
}

/** Symmetric per-output-channel int8 quantization of W[out, in, kh, kw] (row-major float32 data). */
export function quantizeFilter(w_OIhw: Float32Array, shape: readonly number[]): QuantizedFilter {
  const [outChannels, inChannels, kh, kw] = shape;
  const per = inChannels * kh * kw;
  const u8_OIhw = new Uint8Array(outChannels * per);
  const scales_O = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const row = o * per;
    let amax = 0;
    for (let i = 0; i < per; i++) amax = Math.max(amax, Math.abs(w_OIhw[row + i]));
    const s = amax > 0 ? amax / 127 : 1;
    scales_O[o] = s;
    for (let i = 0; i < per; i++) u8_OIhw[row + i] = 128 + Math.max(-127, Math.min(127, Math.round(w_OIhw[row + i] / s)));
  }
  return { u8_OIhw, scales_O, shape: [outChannels, inChannels, kh, kw] };
}

/**
 * A uint8 constant: the graph builder stores int8 initializers, so the bytes go in as int8
 * and a Cast (two's-complement wrap, bytes unchanged) makes them uint8 again; onnxruntime
 * folds it when it loads the graph.
 */
function uint8Constant(g: GraphBuilder, u8: Uint8Array, shape: number[]): string {
  const [name] = g.node('Cast', [g.int8Constant(new Int8Array(u8.buffer, u8.byteOffset, u8.length), shape)], { to: UINT8 });
  g.shapes.set(name, shape); // so that FLOP counts can read the filter's shape
  return name;
}

/** conv2d(x[N, C, H, W], W) + b with W int8 (groups = 1): DynamicQuantizeLinear → ConvInteger → rescale. */
export function conv2dInt8(g: GraphBuilder, x: Value, w: QuantizedFilter, b: Value | undefined, o: ConvAttrs): Value {
  const shape = convShape(x.shape, w.shape, o.stride, o.padding, o.dilation, 1);
  const outChannels = w.shape[0];
  const u128 = uint8Constant(g, Uint8Array.of(128), []); // the top bit to flip, and the filter's zero point
  const filter = uint8Constant(g, w.u8_OIhw, [...w.shape]);
  const [xq_u8, xScale, xZero_u8] = g.node('DynamicQuantizeLinear', [x.name], {}, 3);
  const toInt8 = (u8: string): string => g.node('Cast', [g.node('BitwiseXor', [u8, u128])[0]], { to: INT8 })[0];
  const [acc_NOhw] = g.node('ConvInteger', [toInt8(xq_u8), filter, toInt8(xZero_u8), u128], {
    kernel_shape: w.shape.slice(2),
    pads: [o.padding[0], o.padding[1], o.padding[0], o.padding[1]],
    strides: o.stride,
    dilations: o.dilation,
    group: 1,
  });
  g.shapes.set(acc_NOhw, shape);
  const scales = g.constant(w.scales_O, 'float32', [1, outChannels, 1, 1]);
  const scale_1O11 = g.op('Mul', [xScale, scales], [1, outChannels, 1, 1], 'float32');
  const y = g.op('Mul', [g.op('Cast', [acc_NOhw], shape, 'float32', { to: FLOAT32 }), scale_1O11], shape, 'float32');
  return b ? g.op('Add', [y, reshape(g, b, [1, outChannels, 1, 1])], shape, 'float32') : y;
}
