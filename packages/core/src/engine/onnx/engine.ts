/**
 * The onnx engine: the same module code as the tfjs engine, executed by onnxruntime-node.
 *
 * Two modes, one op implementation. Every op is lowered once (lower.ts) into ONNX nodes.
 * Eagerly, an op on concrete tensors becomes a one-op graph whose session is cached by its
 * structure (op, attributes, input shapes and dtypes; numbers are fed, not baked in):
 * correct, but each call crosses into onnxruntime. The fast path is `compile(fn)`: `fn`
 * runs once per input-shape signature on symbolic tensors, every op lands in one graph,
 * and later calls run that graph's session (trace.ts). Layer ops without an ONNX kernel of
 * identical numerics use the composites of engine/composite.ts, as the tfjs engine does.
 *
 * Devices: onnxruntime's CPU execution provider, or CUDA where its binaries are installed
 * (`device: 'auto'` takes CUDA only when onnxruntime reports it bundled).
 */
import * as os from 'node:os';
import { TesseraError } from '../../errors';
import type { HostTensor } from '../../tensor/host';
import { toFloat32, toInt32 } from '../../tensor/host';
import { attentionComposite, groupNormComposite, interpolateComposite, layerNormComposite } from '../composite';
import type { Engine, EngineInfo, TypedData, Variable } from '../engine';
import type { AttentionOptions, Conv2dOptions, DType, GeluApproximation, InterpolationMode, Tensor, TensorLike } from '../ops';
import { GraphBuilder, typedOf, Value } from './graph';
import * as L from './lower';
import { HostValue, OnnxDevice, onnxBackends, OrtSession, SessionSettings } from './runtime';
import { reshapeTarget } from './shapes';
import { graphFlops } from './flops';
import { OnnxTensor, TensorStore } from './tensor';
import { linearInt8, Precision } from './quantize';
import { conv2dInt8 } from './quantize-conv';
import { Int8Weights } from './reduced-precision';
import { CompiledFunction, compileFunction, CompileOptions, EmbedBudget, flattenTree, rebuildTree, Trace, TracedGraph, TensorSpec, TensorTree } from './trace';

export interface OnnxEngineOptions {
  /** `auto`: CUDA when onnxruntime reports its provider bundled, else CPU. */
  device?: OnnxDevice | 'auto';
  /** Intra-op threads of compiled graphs (default: the machine's cores). */
  threads?: number;
  /**
   * Intra-op threads of eager one-op sessions on small tensors (default 1: a thread pool
   * costs more than it saves there); ops touching more than `eagerParallelElements`
   * elements get `threads`.
   */
  eagerThreads?: number;
  eagerParallelElements?: number;
  /** Busy-waiting onnxruntime worker threads (default false, so other processes keep their cores). */
  spinning?: boolean;
  /** Eager sessions kept (least recently used are dropped). */
  eagerCacheSize?: number;
  /**
   * `fp32` (default): float32 everywhere. `int8`: in traced graphs, linear layers whose
   * weight is a concrete tensor (a parameter) use int8 weights and dynamically quantized
   * activations (quantize.ts); samples then differ slightly from the official float32 ones.
   * `int8-conv`: convolutions too (quantize-conv.ts: the decoders; a larger effect on
   * the images, ~35 dB PSNR against fp32 on VAR's VQVAE, see BENCHMARKS.md).
   */
  precision?: Precision;
  /**
   * Bytes of weights that compiled functions with `weights: 'auto'` may embed as
   * initializers (pre-packed by onnxruntime) over all their live sessions; beyond it they
   * feed them. Default 2 GiB, or `TESSERA_ONNX_EMBED_MB` megabytes.
   */
  embedBudgetBytes?: number;
}

const DEFAULT_EMBED_BUDGET = Number(process.env.TESSERA_ONNX_EMBED_MB ?? 2048) * 2 ** 20;

const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);
type Lowering = (g: GraphBuilder, xs: L.Operand[]) => Value | Value[];

export class OnnxEngine implements Engine {
  readonly info: EngineInfo;
  private readonly store = new TensorStore();
  private readonly eager = new Map<string, OrtSession>();
  private readonly eagerSettings: SessionSettings;
  private readonly eagerParallelSettings: SessionSettings;
  private readonly eagerParallelElements: number;
  private readonly graphSettings: SessionSettings;
  private readonly eagerCacheSize: number;
  private activeTrace: Trace | undefined;
  readonly precision: Precision;
  /** The int8 forms of the weights traced graphs lowered so far (precision int8, int8-conv). */
  private readonly int8: Int8Weights;
  /** Compiled-graph runs and their MatMul/Gemm/Conv FLOPs so far (benchmarks read the differences). */
  readonly stats = { graphRuns: 0, flops: 0 };
  /** Weights embedded by live `weights: 'auto'` sessions, within `embedBudgetBytes`. */
  private readonly embedBudget: EmbedBudget;

  private constructor(device: OnnxDevice, options: OnnxEngineOptions) {
    this.info = { name: 'onnx', backend: device, differentiable: false };
    const spinning = options.spinning ?? false;
    this.eagerSettings = { device, threads: options.eagerThreads ?? 1, optimization: 'basic', spinning };
    this.graphSettings = { device, threads: options.threads ?? os.availableParallelism(), optimization: 'all', spinning };
    this.eagerParallelSettings = { ...this.eagerSettings, threads: this.graphSettings.threads };
    this.eagerParallelElements = options.eagerParallelElements ?? 1 << 18;
    this.eagerCacheSize = options.eagerCacheSize ?? 1024;
    this.precision = options.precision ?? 'fp32';
    this.int8 = new Int8Weights(this.precision);
    this.embedBudget = new EmbedBudget(options.embedBudgetBytes ?? DEFAULT_EMBED_BUDGET);
  }

  /** Loads onnxruntime-node and picks the device. */
  static async create(options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const requested = options.device ?? 'auto';
    const backends = onnxBackends();
    const cuda = backends.some((b) => b.name === 'cuda' && b.bundled);
    if (requested === 'cuda' && !cuda) {
      throw new TesseraError('ENGINE_UNAVAILABLE', 'onnx device `cuda` needs onnxruntime-node\'s CUDA binaries, which are not installed here; use device `cpu` or `auto`', {
        data: { requested, backends },
      });
    }
    return new OnnxEngine(requested === 'cpu' || !cuda ? 'cpu' : 'cuda', options);
  }

  // ---- tensors and memory ----
  private concrete(data: TypedData, shape: readonly number[], dtype: DType): OnnxTensor {
    return this.store.track(new OnnxTensor(shape, dtype, data, undefined)) as OnnxTensor;
  }
  private t(x: Tensor): OnnxTensor {
    if (!(x instanceof OnnxTensor)) throw new TesseraError('OP_UNSUPPORTED', 'the onnx engine was given a tensor of another engine', { data: { shape: x.shape } });
    return x;
  }
  tensor(data: TypedData | number[], shape: readonly number[], dtype: DType = data instanceof Int32Array ? 'int32' : 'float32'): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new TesseraError('SHAPE_MISMATCH', `data of length ${data.length} does not fill shape [${shape.join(', ')}]`, { data: { shape: [...shape], length: data.length } });
    return this.concrete(typedOf(dtype, data), shape, dtype);
  }
  fromHost(h: HostTensor): Tensor {
    if (h.dtype === 'bool') return this.concrete(Uint8Array.from(h.data as Uint8Array), h.shape, 'bool');
    const isInt = h.dtype === 'int64' || h.dtype === 'int32' || h.dtype === 'int16' || h.dtype === 'int8' || h.dtype === 'uint8';
    return isInt ? this.concrete(Int32Array.from(toInt32(h)), h.shape, 'int32') : this.concrete(Float32Array.from(toFloat32(h)), h.shape, 'float32');
  }
  full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = dtype === 'float32' ? new Float32Array(n) : dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n);
    return this.concrete(data.fill(dtype === 'bool' ? Number(value !== 0) : value), shape, dtype);
  }
  zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor { return this.full(shape, 0, dtype); }
  ones(shape: readonly number[], dtype: DType = 'float32'): Tensor { return this.full(shape, 1, dtype); }
  arange(start: number, stop: number): Tensor {
    return this.concrete(Int32Array.from({ length: Math.max(0, stop - start) }, (_, i) => start + i), [Math.max(0, stop - start)], 'int32');
  }
  async read(x: Tensor): Promise<TypedData> { return this.readSync(x); }
  readSync(x: Tensor): TypedData { return this.t(x).data.slice(); }
  tidy<R>(fn: () => R): R { return this.store.tidy(fn); }
  dispose(x: Tensor | Tensor[] | undefined): void {
    if (!x) return;
    for (const t of Array.isArray(x) ? x : [x]) this.store.dispose(this.t(t));
  }
  keep<X extends Tensor>(x: X): X { this.store.keep(this.t(x)); return x; }
  liveTensors(): number { return this.store.count(); }

  variable(initial: Tensor, name: string): Variable {
    const own = (x: Tensor): OnnxTensor => {
      const t = this.t(x);
      return this.store.track(new OnnxTensor(t.shape, t.dtype, t.data, undefined), false);
    };
    let current = own(initial);
    return {
      name,
      get value(): Tensor { return current; },
      assign: (value: Tensor) => {
        const next = own(value);
        this.store.dispose(current);
        current = next;
      },
    };
  }
  valueAndGrads(_f: () => Tensor, _variables: Variable[]): { value: Tensor; grads: Tensor[] } {
    throw new TesseraError('ENGINE_UNAVAILABLE', 'the onnx engine runs inference only: `valueAndGrads` is not available. Train with engine `tfjs`.', { data: { engine: 'onnx' } });
  }

  // ---- execution ----
  /** Runs or records one lowered op. */
  private apply(inputs: TensorLike[], lower: Lowering): OnnxTensor[] {
    const tensors = inputs.filter((x): x is Tensor => typeof x !== 'number').map((x) => this.t(x));
    const symbolic = tensors.find((x) => x.symbol);
    if (symbolic) {
      const trace = this.activeTrace;
      if (!trace || symbolic.symbol?.trace !== trace) {
        throw new TesseraError('OP_UNSUPPORTED', 'a traced tensor was used after its trace ended (traced values exist only inside the compiled function)');
      }
      const vals = inputs.map((x) => (typeof x === 'number' ? x : trace.valueOf(this.t(x))));
      const out = lower(trace.g, vals);
      return (Array.isArray(out) ? out : [out]).map((v) => this.store.track(new OnnxTensor(v.shape, v.dtype, undefined, { trace, value: v })));
    }
    return this.runEager(inputs.map((x) => (typeof x === 'number' ? x : this.t(x))), lower);
  }

  private runEager(inputs: (OnnxTensor | number)[], lower: Lowering): OnnxTensor[] {
    const g = new GraphBuilder(true);
    const feeds = new Map<string, HostValue>();
    const vals = inputs.map((x) => {
      if (typeof x === 'number') return x;
      const v = g.input(x.dtype, x.shape);
      feeds.set(v.name, x);
      return v;
    });
    const res = lower(g, vals);
    const outs = Array.isArray(res) ? res : [res];
    const fed = (v: Value): OnnxTensor | undefined => inputs.find((x, i) => typeof x !== 'number' && (vals[i] as Value).name === v.name) as OnnxTensor | undefined;
    const computed = outs.filter((v) => !fed(v));
    let data: TypedData[] = [];
    if (computed.length) {
      computed.forEach((v) => g.output(v));
      for (const [name, s] of g.scalarFeeds) feeds.set(name, { dtype: s.dtype, shape: [], data: typedOf(s.dtype, [s.value]) });
      const elements = [...g.inputs, ...computed].reduce((n, v) => n + v.shape.reduce((a, b) => a * b, 1), 0);
      data = this.eagerSession(g, elements >= this.eagerParallelElements).run(feeds, computed.map((v) => v.name));
    }
    return outs.map((v) => {
      const passthrough = fed(v);
      return this.concrete(passthrough ? passthrough.data : data[computed.indexOf(v)], v.shape, v.dtype);
    });
  }

  private eagerSession(g: GraphBuilder, parallel: boolean): OrtSession {
    const key = `${parallel ? 'mt' : 'st'}${g.key()}`;
    let s = this.eager.get(key);
    if (s) {
      this.eager.delete(key); // refresh its place in the LRU order
    } else {
      s = new OrtSession(g.encode('eager'), parallel ? this.eagerParallelSettings : this.eagerSettings);
      if (this.eager.size >= this.eagerCacheSize) {
        const [oldest, old] = this.eager.entries().next().value as [string, OrtSession];
        old.dispose();
        this.eager.delete(oldest);
      }
    }
    this.eager.set(key, s);
    return s;
  }

  private one(inputs: TensorLike[], lower: (g: GraphBuilder, xs: L.Operand[]) => Value): Tensor {
    return this.apply(inputs, lower)[0];
  }

  /** A concrete tensor sharing `x`'s data under another shape (eager reshapes copy nothing). */
  private view(x: Tensor, shape: number[], lower: (g: GraphBuilder, v: Value) => Value): Tensor {
    const t = this.t(x);
    if (t.symbol) return this.one([t], (g, [v]) => lower(g, v as Value));
    return this.concrete(t.data, shape, t.dtype);
  }

  // ---- tracing ----
  /** Traces `fn` on symbolic inputs of the given shapes into one ONNX graph. */
  trace(fn: (...xs: Tensor[]) => TensorTree, inputs: readonly TensorSpec[], options: CompileOptions = {}): TracedGraph {
    if (this.activeTrace) throw new TesseraError('OP_UNSUPPORTED', 'traces do not nest: a compiled function was called while another function was being traced');
    const trace = new Trace(options.weights ?? 'embed');
    const inputValues = inputs.map((s, i) => trace.g.input(s.dtype as DType, s.shape, `input_${i}`));
    this.activeTrace = trace;
    try {
      const template = this.tidy(() => {
        const ins = inputValues.map((v) => this.store.track(new OnnxTensor(v.shape, v.dtype, undefined, { trace, value: v })));
        const leaves: OnnxTensor[] = [];
        const tpl = flattenTree(fn(...ins), leaves);
        const named = new Set<string>();
        for (const leaf of leaves) {
          // A node's result is an output as it is; an input, a constant or a repeated output goes through an Identity.
          const v = trace.valueOf(this.t(leaf));
          trace.g.output(trace.g.isNodeOutput(v.name) && !named.has(v.name) ? v : trace.g.op('Identity', [v], v.shape, v.dtype));
          named.add(v.name);
        }
        return tpl;
      });
      const settings = { ...this.graphSettings, threads: options.threads ?? this.graphSettings.threads };
      const release = options.weights === 'auto' ? this.embedBudget.embed(trace, options.embedMaxBytes ?? Infinity) : undefined;
      return new TracedGraph(trace.g.encode(options.name ?? 'tessera'), inputValues, [...trace.g.outputs], template, trace.external, settings, graphFlops(trace.g), release);
    } finally {
      trace.closed = true;
      this.activeTrace = undefined;
    }
  }

  /**
   * `fn` as one onnxruntime session per input-shape signature. Outputs are concrete
   * tensors arranged as `fn` returns them (a tensor, arrays or plain objects of tensors).
   *
   * @example const step = F.compile((x, k, v) => block.forward(x, k, v)); const { y, cache } = step(x, k, v);
   */
  compile<O extends TensorTree>(fn: (...xs: Tensor[]) => O, options: CompileOptions = {}): CompiledFunction<O> {
    return compileFunction(
      {
        isTracing: (xs) => this.activeTrace !== undefined && xs.some((x) => this.t(x).isSymbolic),
        trace: (f, specs, o) => this.trace(f, specs, o),
        wrapOutputs: (graph, data) => {
          this.stats.graphRuns++;
          this.stats.flops += graph.flops;
          return rebuildTree(graph.template, graph.outputs.map((v, i) => this.concrete(data[i], v.shape, v.dtype)));
        },
        checkConcrete: (xs) => xs.map((x) => {
          const t = this.t(x);
          void t.data; // throws for symbolic or disposed inputs
          return t;
        }),
      },
      fn,
      options,
    );
  }

  // ---- elementwise ----
  add(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'add', x, y)); }
  sub(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'sub', x, y)); }
  mul(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'mul', x, y)); }
  div(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'div', x, y)); }
  pow(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'pow', x, y)); }
  maximum(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'maximum', x, y)); }
  minimum(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'minimum', x, y)); }
  equal(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'equal', x, y)); }
  greater(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'greater', x, y)); }
  greaterEqual(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'greaterEqual', x, y)); }
  less(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'less', x, y)); }
  lessEqual(a: TensorLike, b: TensorLike): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'lessEqual', x, y)); }
  logicalAnd(a: Tensor, b: Tensor): Tensor { return this.one([a, b], (g, [x, y]) => L.binary(g, 'logicalAnd', x, y)); }
  logicalNot(a: Tensor): Tensor { return this.unary('logicalNot', a); }
  where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor { return this.one([cond, a, b], (g, [c, x, y]) => L.where(g, c as Value, x, y)); }

  private unary(op: L.UnaryOp, x: Tensor): Tensor { return this.one([x], (g, [v]) => L.unary(g, op, v as Value)); }
  neg(x: Tensor): Tensor { return this.unary('neg', x); }
  abs(x: Tensor): Tensor { return this.unary('abs', x); }
  exp(x: Tensor): Tensor { return this.unary('exp', x); }
  log(x: Tensor): Tensor { return this.unary('log', x); }
  sqrt(x: Tensor): Tensor { return this.unary('sqrt', x); }
  rsqrt(x: Tensor): Tensor { return this.unary('rsqrt', x); }
  square(x: Tensor): Tensor { return this.unary('square', x); }
  sin(x: Tensor): Tensor { return this.unary('sin', x); }
  cos(x: Tensor): Tensor { return this.unary('cos', x); }
  tanh(x: Tensor): Tensor { return this.unary('tanh', x); }
  sigmoid(x: Tensor): Tensor { return this.unary('sigmoid', x); }
  erf(x: Tensor): Tensor { return this.unary('erf', x); }
  floor(x: Tensor): Tensor { return this.unary('floor', x); }
  round(x: Tensor): Tensor { return this.unary('round', x); }
  sign(x: Tensor): Tensor { return this.unary('sign', x); }
  relu(x: Tensor): Tensor { return this.unary('relu', x); }
  silu(x: Tensor): Tensor { return this.unary('silu', x); }
  gelu(x: Tensor, approximate: GeluApproximation = 'none'): Tensor { return this.unary(approximate === 'tanh' ? 'geluTanh' : 'gelu', x); }
  clip(x: Tensor, min: number, max: number): Tensor { return this.one([x], (g, [v]) => L.clip(g, v as Value, min, max)); }
  cast(x: Tensor, dtype: DType): Tensor {
    if (x.dtype === dtype) return this.view(x, x.shape, (g, v) => g.op('Identity', [v], v.shape, v.dtype));
    return this.one([x], (g, [v]) => L.cast(g, v as Value, dtype));
  }
  stopGradient(x: Tensor): Tensor { return this.view(x, x.shape, (g, v) => g.op('Identity', [v], v.shape, v.dtype)); }

  matmul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
    return this.one([a, b], (g, [x, y]) => L.matmul(g, x as Value, y as Value, transposeA, transposeB));
  }

  // ---- reductions ----
  sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.one([x], (g, [v]) => L.reduce(g, 'sum', v as Value, axes, keepDims)); }
  mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.one([x], (g, [v]) => L.reduce(g, 'mean', v as Value, axes, keepDims)); }
  max(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.one([x], (g, [v]) => L.reduce(g, 'max', v as Value, axes, keepDims)); }
  min(x: Tensor, axes?: number | number[], keepDims = false): Tensor { return this.one([x], (g, [v]) => L.reduce(g, 'min', v as Value, axes, keepDims)); }
  argmax(x: Tensor, axis: number): Tensor { return this.one([x], (g, [v]) => L.argReduce(g, 'argmax', v as Value, axis)); }
  argmin(x: Tensor, axis: number): Tensor { return this.one([x], (g, [v]) => L.argReduce(g, 'argmin', v as Value, axis)); }
  cumsum(x: Tensor, axis: number): Tensor { return this.one([x], (g, [v]) => L.cumsum(g, v as Value, axis)); }
  softmax(x: Tensor, axis = -1): Tensor { return this.one([x], (g, [v]) => L.softmax(g, v as Value, axis, false)); }
  logSoftmax(x: Tensor, axis = -1): Tensor { return this.one([x], (g, [v]) => L.softmax(g, v as Value, axis, true)); }

  // ---- shapes ----
  reshape(x: Tensor, shape: number[]): Tensor { return this.view(x, reshapeTarget(x.shape, shape), (g, v) => L.reshape(g, v, shape)); }
  transpose(x: Tensor, perm: number[]): Tensor { return this.one([x], (g, [v]) => L.transpose(g, v as Value, perm)); }
  concat(xs: Tensor[], axis: number): Tensor { return this.one(xs, (g, vs) => L.concat(g, vs as Value[], axis)); }
  slice(x: Tensor, begin: number[], size: number[]): Tensor { return this.one([x], (g, [v]) => L.slice(g, v as Value, begin, size)); }
  stack(xs: Tensor[], axis: number): Tensor { return this.one(xs, (g, vs) => L.stack(g, vs as Value[], axis)); }
  split(x: Tensor, sizes: number[], axis: number): Tensor[] { return this.apply([x], (g, [v]) => L.split(g, v as Value, sizes, axis)); }
  gather(x: Tensor, indices: Tensor, axis: number): Tensor { return this.one([x, indices], (g, [v, i]) => L.gather(g, v as Value, i as Value, axis)); }
  gatherAlong(x: Tensor, indices: Tensor, axis: number): Tensor { return this.one([x, indices], (g, [v, i]) => L.gatherAlong(g, v as Value, i as Value, axis)); }
  pad(x: Tensor, paddings: [number, number][], value = 0): Tensor { return this.one([x], (g, [v]) => L.pad(g, v as Value, paddings, value)); }
  tile(x: Tensor, reps: number[]): Tensor { return this.one([x], (g, [v]) => L.tile(g, v as Value, reps)); }
  broadcastTo(x: Tensor, shape: number[]): Tensor { return this.one([x], (g, [v]) => L.broadcastTo(g, v as Value, shape)); }
  expandDims(x: Tensor, axis: number): Tensor {
    const a = axis < 0 ? axis + x.shape.length + 1 : axis;
    const shape = [...x.shape];
    shape.splice(a, 0, 1);
    return this.view(x, shape, (g, v) => L.expandDims(g, v, axis));
  }
  squeeze(x: Tensor, axes?: number[]): Tensor { return this.one([x], (g, [v]) => L.squeeze(g, v as Value, axes)); }
  flip(x: Tensor, axes: number[]): Tensor { return this.one([x], (g, [v]) => L.flip(g, v as Value, axes)); }
  oneHot(indices: Tensor, depth: number): Tensor { return this.one([indices], (g, [i]) => L.oneHot(g, i as Value, depth)); }
  topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
    const [values, indices] = this.apply([x], (g, [v]) => L.topk(g, v as Value, k));
    return { values, indices };
  }

  // ---- layers ----
  linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    const int8 = this.int8.linear(this.activeTrace, this.t(x), this.t(weight));
    if (int8) return this.one(bias ? [x, bias] : [x], (g, [v, b]) => linearInt8(g, v as Value, int8, b as Value | undefined));
    return this.one(bias ? [x, weight, bias] : [x, weight], (g, [v, w, b]) => L.linear(g, v as Value, w as Value, b as Value | undefined));
  }
  embedding(indices: Tensor, table: Tensor): Tensor { return this.gather(table, indices, 0); }
  layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
    return this.tidy(() => layerNormComposite(this, x, weight, bias, eps));
  }
  groupNorm(x: Tensor, groups: number, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
    return this.tidy(() => groupNormComposite(this, x, groups, weight, bias, eps));
  }
  conv2d(x: Tensor, weight: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
    const attrs = { stride: pair(options.stride, 1), padding: pair(options.padding, 0), dilation: pair(options.dilation, 1), groups: options.groups ?? 1 };
    const int8 = attrs.groups === 1 ? this.int8.filter(this.activeTrace, this.t(x), this.t(weight)) : undefined;
    if (int8) return this.one(bias ? [x, bias] : [x], (g, [v, b]) => conv2dInt8(g, v as Value, int8, b as Value | undefined, attrs));
    return this.one(bias ? [x, weight, bias] : [x, weight], (g, [v, w, b]) => L.conv2d(g, v as Value, w as Value, b as Value | undefined, attrs));
  }
  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor { return this.tidy(() => attentionComposite(this, q, k, v, options)); }
  interpolate(x: Tensor, size: [number, number], mode: InterpolationMode): Tensor {
    if (x.shape.length !== 4) throw new TesseraError('SHAPE_MISMATCH', `interpolate expects NCHW input, got shape [${x.shape.join(', ')}]`);
    return this.tidy(() => interpolateComposite(this, x, size, mode));
  }
}
