/**
 * Which weights of a trace the onnx engine lowers to int8 (`precision` `int8`: linear
 * layers, quantize.ts; `int8-conv`: also convolutions, quantize-conv.ts): a weight that is
 * a concrete float32 tensor (a module's parameter) read by an op on a traced input. Each
 * parameter tensor is quantized once and kept while the tensor lives; the trace records it
 * as external, so a replaced parameter makes the graph stale and it is traced again.
 */
import type { Precision, QuantizedWeight } from './quantize';
import { quantizeRows } from './quantize';
import type { QuantizedFilter } from './quantize-conv';
import { quantizeFilter } from './quantize-conv';
import type { OnnxTensor } from './tensor';
import type { Trace } from './trace';

export class Int8Weights {
  private readonly rows = new WeakMap<OnnxTensor, QuantizedWeight>();
  private readonly filters = new WeakMap<OnnxTensor, QuantizedFilter>();

  constructor(readonly precision: Precision) {}

  /** The int8 form of a linear layer's weight [out, in], or undefined to stay float32. */
  linear(trace: Trace | undefined, x: OnnxTensor, w: OnnxTensor): QuantizedWeight | undefined {
    if (this.precision === 'fp32' || !this.lowered(trace, x, w, 2)) return undefined;
    return this.cached(this.rows, trace as Trace, w, () => quantizeRows(w.data as Float32Array, w.shape[0], w.shape[1]));
  }

  /** The int8 form of a convolution's filter [out, in, kh, kw] (groups 1), or undefined to stay float32. */
  filter(trace: Trace | undefined, x: OnnxTensor, w: OnnxTensor): QuantizedFilter | undefined {
    if (this.precision !== 'int8-conv' || !this.lowered(trace, x, w, 4)) return undefined;
    return this.cached(this.filters, trace as Trace, w, () => quantizeFilter(w.data as Float32Array, w.shape));
  }

  private lowered(trace: Trace | undefined, x: OnnxTensor, w: OnnxTensor, rank: number): boolean {
    return !!trace && !!x.symbol && !w.symbol && w.shape.length === rank && w.dtype === 'float32';
  }

  private cached<Q>(cache: WeakMap<OnnxTensor, Q>, trace: Trace, w: OnnxTensor, make: () => Q): Q {
    let q = cache.get(w);
    if (!q) {
      q = make();
      cache.set(w, q);
    }
    if (w.id < trace.startId) trace.external.push({ tensor: w }); // re-traced when the parameter is replaced
    return q;
  }
}
