/**
 * The tfjs engine: eager execution and autodiff through TensorFlow.js.
 *
 * Backend choice, fastest first: `@tensorflow/tfjs-node-gpu` (CUDA), `@tensorflow/tfjs-node`
 * (native TensorFlow), then pure tfjs with the `wasm` backend (SIMD, ~25x the `cpu`
 * backend on a matmul here) and the `cpu` backend. The native packages are loaded only
 * when installed; they are never dependencies. Gradient kernels the wasm backend lacks
 * are registered by `wasm-grad-kernels.ts` so training can run on wasm too.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { TesseraError } from '../../errors';
import type { HostTensor } from '../../tensor/host';
import { toFloat32, toInt32 } from '../../tensor/host';
import type { Engine, EngineInfo, TypedData, Variable } from '../engine';
import type { AttentionOptions, Conv2dOptions, DType, GeluApproximation, InterpolationMode, Tensor, TensorLike } from '../ops';
import { attentionComposite, groupNormComposite, interpolateComposite, layerNormComposite } from '../composite';
import { loadTfjs, TfjsBackendName } from './backend';

type T = tfTypes.Tensor;
const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

export interface TfjsEngineOptions {
  /** `auto` picks the fastest installed backend. */
  backend?: TfjsBackendName | 'auto';
}

export class TfjsEngine implements Engine {
  readonly info: EngineInfo;
  private readonly tf: typeof tfTypes;

  private constructor(tf: typeof tfTypes, backend: string) {
    this.tf = tf;
    this.info = { name: 'tfjs', backend, differentiable: true };
  }

  /** Loads tfjs and activates a backend (async because wasm compiles its module). */
  static async create(options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
    const { tf, backend } = await loadTfjs(options.backend ?? 'auto');
    return new TfjsEngine(tf, backend);
  }

  private t(x: TensorLike): T {
    return (typeof x === 'number' ? this.tf.scalar(x) : x) as T;
  }

  private binaryArgs(a: TensorLike, b: TensorLike): [T, T] {
    // A number takes the dtype of the tensor beside it, as PyTorch's scalar promotion does.
    if (typeof a === 'number' && typeof b !== 'number') return [this.tf.scalar(a, (b as T).dtype), b as T];
    if (typeof b === 'number' && typeof a !== 'number') return [a as T, this.tf.scalar(b, (a as T).dtype)];
    return [this.t(a), this.t(b)];
  }

  // ---- creation and memory ----
  tensor(data: TypedData | number[], shape: readonly number[], dtype: DType = data instanceof Int32Array ? 'int32' : 'float32'): Tensor {
    return this.tf.tensor(data as Float32Array, [...shape], dtype);
  }
  fromHost(h: HostTensor): Tensor {
    const isInt = h.dtype === 'int64' || h.dtype === 'int32' || h.dtype === 'int16' || h.dtype === 'int8' || h.dtype === 'uint8';
    if (h.dtype === 'bool') return this.tf.tensor(Int32Array.from(h.data as Uint8Array), [...h.shape], 'bool');
    return isInt ? this.tf.tensor(toInt32(h), [...h.shape], 'int32') : this.tf.tensor(toFloat32(h), [...h.shape], 'float32');
  }
  zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor { return this.tf.zeros([...shape], dtype); }
  ones(shape: readonly number[], dtype: DType = 'float32'): Tensor { return this.tf.ones([...shape], dtype); }
  full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor { return this.tf.fill([...shape], value, dtype); }
  arange(start: number, stop: number): Tensor { return this.tf.range(start, stop, 1, 'int32'); }
  async read(x: Tensor): Promise<TypedData> { return (await (x as T).data()) as TypedData; }
  readSync(x: Tensor): TypedData { return (x as T).dataSync() as TypedData; }
  tidy<R>(fn: () => R): R { return this.tf.tidy(fn as () => tfTypes.TensorContainer) as unknown as R; }
  dispose(x: Tensor | Tensor[] | undefined): void { if (x) this.tf.dispose(x as T | T[]); }
  keep<X extends Tensor>(x: X): X { return this.tf.keep(x as unknown as T) as unknown as X; }
  liveTensors(): number { return this.tf.memory().numTensors; }

  variable(initial: Tensor, name: string, trainable = true): Variable {
    const v = this.tf.variable(initial as T, trainable, `${name}#${nextVariableId++}`);
    return {
      name,
      get value(): Tensor { return v; },
      assign: (value: Tensor) => v.assign(value as T),
    };
  }
  valueAndGrads(f: () => Tensor, variables: Variable[]): { value: Tensor; grads: Tensor[] } {
    const vars = variables.map((v) => v.value as tfTypes.Variable);
    const { value, grads } = this.tf.variableGrads(f as () => tfTypes.Scalar, vars);
    return { value, grads: vars.map((v) => grads[v.name]) };
  }

  // ---- elementwise ----
  add(a: TensorLike, b: TensorLike): Tensor { return this.tf.add(...this.binaryArgs(a, b)); }
  sub(a: TensorLike, b: TensorLike): Tensor { return this.tf.sub(...this.binaryArgs(a, b)); }
  mul(a: TensorLike, b: TensorLike): Tensor { return this.tf.mul(...this.binaryArgs(a, b)); }
  div(a: TensorLike, b: TensorLike): Tensor { return this.tf.div(...this.binaryArgs(a, b)); }
  pow(a: TensorLike, b: TensorLike): Tensor { return this.tf.pow(...this.binaryArgs(a, b)); }
  maximum(a: TensorLike, b: TensorLike): Tensor { return this.tf.maximum(...this.binaryArgs(a, b)); }
  minimum(a: TensorLike, b: TensorLike): Tensor { return this.tf.minimum(...this.binaryArgs(a, b)); }
  equal(a: TensorLike, b: TensorLike): Tensor { return this.tf.equal(...this.binaryArgs(a, b)); }
  greater(a: TensorLike, b: TensorLike): Tensor { return this.tf.greater(...this.binaryArgs(a, b)); }
  greaterEqual(a: TensorLike, b: TensorLike): Tensor { return this.tf.greaterEqual(...this.binaryArgs(a, b)); }
  less(a: TensorLike, b: TensorLike): Tensor { return this.tf.less(...this.binaryArgs(a, b)); }
  lessEqual(a: TensorLike, b: TensorLike): Tensor { return this.tf.lessEqual(...this.binaryArgs(a, b)); }
  logicalAnd(a: Tensor, b: Tensor): Tensor { return this.tf.logicalAnd(a as T, b as T); }
  logicalNot(a: Tensor): Tensor { return this.tf.logicalNot(a as T); }
  where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
    const [ta, tb] = this.binaryArgs(a, b);
    const shape = this.tf.broadcast_util.assertAndGetBroadcastShape(this.tf.broadcast_util.assertAndGetBroadcastShape(cond.shape, ta.shape), tb.shape);
    return this.tf.where(this.tf.broadcastTo(cond as T, shape), this.tf.broadcastTo(ta, shape), this.tf.broadcastTo(tb, shape));
  }

  neg(x: Tensor): Tensor { return this.tf.neg(x as T); }
  abs(x: Tensor): Tensor { return this.tf.abs(x as T); }
  exp(x: Tensor): Tensor { return this.tf.exp(x as T); }
  log(x: Tensor): Tensor { return this.tf.log(x as T); }
  sqrt(x: Tensor): Tensor { return this.tf.sqrt(x as T); }
  rsqrt(x: Tensor): Tensor { return this.tf.rsqrt(x as T); }
  square(x: Tensor): Tensor { return this.tf.square(x as T); }
  sin(x: Tensor): Tensor { return this.tf.sin(x as T); }
  cos(x: Tensor): Tensor { return this.tf.cos(x as T); }
  tanh(x: Tensor): Tensor { return this.tf.tanh(x as T); }
  sigmoid(x: Tensor): Tensor { return this.tf.sigmoid(x as T); }
  erf(x: Tensor): Tensor { return this.tf.erf(x as T); }
  floor(x: Tensor): Tensor { return this.tf.floor(x as T); }
  round(x: Tensor): Tensor { return this.tf.round(x as T); } // tfjs rounds half to even too
  sign(x: Tensor): Tensor { return this.tf.sign(x as T); }
  relu(x: Tensor): Tensor { return this.tf.relu(x as T); }
  silu(x: Tensor): Tensor { const t = x as T; return this.tf.mul(t, this.tf.sigmoid(t)); }
  gelu(x: Tensor, approximate: GeluApproximation = 'none'): Tensor {
    const tf = this.tf; const t = x as T;
    if (approximate === 'tanh') {
      const inner = tf.mul(tf.add(t, tf.mul(tf.pow(t, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return tf.mul(tf.mul(t, 0.5), tf.add(tf.tanh(inner), 1));
    }
    return tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1));
  }
  clip(x: Tensor, min: number, max: number): Tensor { return this.tf.clipByValue(x as T, min, max); }
  cast(x: Tensor, dtype: DType): Tensor { return this.tf.cast(x as T, dtype); }
  stopGradient(x: Tensor): Tensor {
    const tf = this.tf;
    const detach = tf.customGrad(((t: T) => ({ value: tf.clone(t), gradFunc: (dy: T) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]);
    return detach(x as T);
  }

  matmul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
    return this.tf.matMul(a as T, b as T, transposeA, transposeB);
  }

  // ---- reductions ----
  sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.tf.sum(x as T, axes, keepDims); }
  mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.tf.mean(x as T, axes, keepDims); }
  max(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.tf.max(x as T, axes, keepDims); }
  min(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.tf.min(x as T, axes, keepDims); }
  argmax(x: Tensor, axis: number): Tensor { return this.tf.argMax(x as T, axis); }
  argmin(x: Tensor, axis: number): Tensor { return this.tf.argMin(x as T, axis); }
  cumsum(x: Tensor, axis: number): Tensor { return this.tf.cumsum(x as T, axis < 0 ? axis + x.shape.length : axis); } // wasm's kernel crashes on a negative axis
  softmax(x: Tensor, axis = -1): Tensor {
    const r = x.shape.length; const ax = axis < 0 ? axis + r : axis;
    if (ax === r - 1) return this.tf.softmax(x as T);
    const perm = [...Array(r).keys()]; perm[ax] = r - 1; perm[r - 1] = ax;
    return this.tf.transpose(this.tf.softmax(this.tf.transpose(x as T, perm)), perm);
  }
  logSoftmax(x: Tensor, axis = -1): Tensor {
    // x - logsumexp(x): the wasm backend has no LogSoftmax kernel.
    const tf = this.tf; const t = x as T;
    const m = tf.max(t, axis, true); // its gradient cancels: d(x - m - log Σe^(x-m))/dm = 0
    const shifted = tf.sub(t, m);
    return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), axis, true)));
  }

  // ---- shapes ----
  reshape(x: Tensor, shape: number[]): Tensor { return this.tf.reshape(x as T, shape); }
  transpose(x: Tensor, perm: number[]): Tensor { return this.tf.transpose(x as T, perm); }
  concat(xs: Tensor[], axis: number): Tensor { return xs.length === 1 ? xs[0] : this.tf.concat(xs as T[], axis); }
  slice(x: Tensor, begin: number[], size: number[]): Tensor { return this.tf.slice(x as T, begin, size); }
  stack(xs: Tensor[], axis: number): Tensor { return this.tf.stack(xs as T[], axis); }
  split(x: Tensor, sizes: number[], axis: number): Tensor[] { return this.tf.split(x as T, sizes, axis); }
  gather(x: Tensor, indices: Tensor, axis: number): Tensor { return this.tf.gather(x as T, indices as T, axis); }
  gatherAlong(x: Tensor, indices: Tensor, axis: number): Tensor {
    // torch.gather via one-hot-free flat indexing: offsets of every other axis are kept.
    const tf = this.tf; const r = x.shape.length; const ax = axis < 0 ? axis + r : axis;
    const perm = [...Array(r).keys()]; perm[ax] = r - 1; perm[r - 1] = ax;
    const xT = tf.transpose(x as T, perm); const iT = tf.transpose(indices as T, perm);
    const n = xT.shape[r - 1]; const k = iT.shape[r - 1];
    const rows = iT.size / k;
    const flatX = tf.reshape(xT, [rows * n]);
    const base = tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(n, 'int32')).reshape([rows, 1]);
    const flatIdx = tf.add(tf.reshape(iT, [rows, k]), base).reshape([rows * k]);
    return tf.transpose(tf.reshape(tf.gather(flatX, flatIdx), iT.shape), perm);
  }
  pad(x: Tensor, paddings: [number, number][], value = 0): Tensor { return this.tf.pad(x as T, paddings, value); }
  tile(x: Tensor, reps: number[]): Tensor { return this.tf.tile(x as T, reps); }
  broadcastTo(x: Tensor, shape: number[]): Tensor { return this.tf.broadcastTo(x as T, shape); }
  expandDims(x: Tensor, axis: number): Tensor { return this.tf.expandDims(x as T, axis); }
  squeeze(x: Tensor, axes?: number[]): Tensor { return this.tf.squeeze(x as T, axes); }
  flip(x: Tensor, axes: number[]): Tensor { return this.tf.reverse(x as T, axes); }
  oneHot(indices: Tensor, depth: number): Tensor {
    // tf.oneHot refuses depth 1; torch's one_hot(num_classes=1) is (index == 0).
    if (depth === 1) return this.tf.cast(this.tf.expandDims(this.tf.equal(indices as T, 0), -1), 'float32');
    return this.tf.cast(this.tf.oneHot(indices as T, depth), 'float32');
  }
  topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } { return this.tf.topk(x as T, k, true); }

  // ---- layers ----
  linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    const tf = this.tf; const shape = x.shape; const inF = shape[shape.length - 1];
    const x2 = tf.reshape(x as T, [-1, inF]);
    let y = tf.matMul(x2, weight as T, false, true);
    if (bias) y = tf.add(y, bias as T);
    return tf.reshape(y, [...shape.slice(0, -1), weight.shape[0]]);
  }
  embedding(indices: Tensor, table: Tensor): Tensor { return this.tf.gather(table as T, indices as T, 0); }
  layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor { return layerNormComposite(this, x, weight, bias, eps); }
  groupNorm(x: Tensor, groups: number, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
    return groupNormComposite(this, x, groups, weight, bias, eps);
  }
  conv2d(x: Tensor, weight: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
    const tf = this.tf;
    const [sh, sw] = pair(options.stride, 1); const [ph, pw] = pair(options.padding, 0); const [dh, dw] = pair(options.dilation, 1);
    const groups = options.groups ?? 1;
    const x_NHWC = tf.transpose(x as T, [0, 2, 3, 1]);
    const w_HWIO = tf.transpose(weight as T, [2, 3, 1, 0]);
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
    const conv = (xi: T, wi: T): T => tf.conv2d(xi as tfTypes.Tensor4D, wi as tfTypes.Tensor4D, [sh, sw], pad, 'NHWC', [dh, dw]);
    let y: T;
    if (groups === 1) y = conv(x_NHWC, w_HWIO);
    else {
      const xs = tf.split(x_NHWC, groups, 3); const ws = tf.split(w_HWIO, groups, 3);
      y = tf.concat(xs.map((xi, g) => conv(xi, ws[g])), 3);
    }
    if (bias) y = tf.add(y, bias as T);
    return tf.transpose(y, [0, 3, 1, 2]);
  }
  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor { return attentionComposite(this, q, k, v, options); }
  interpolate(x: Tensor, size: [number, number], mode: InterpolationMode): Tensor {
    if (x.shape.length !== 4) throw new TesseraError('SHAPE_MISMATCH', `interpolate expects NCHW input, got shape [${x.shape.join(', ')}]`);
    return interpolateComposite(this, x, size, mode);
  }
}

let nextVariableId = 0;
