/**
 * Tracing a function of tensors into one ONNX graph, and compiled functions that run
 * such graphs with one onnxruntime session per input-shape signature.
 *
 * While a trace is open, every op with a symbolic input is recorded into its graph; ops
 * on concrete tensors only still run eagerly (constant folding: a module's weight
 * transposes or position tables become constants). Concrete tensors a traced op reads
 * are captured: with `weights: 'embed'` (default) they become initializers, which lets
 * onnxruntime pre-pack GEMM weights and keep them on the device; with `weights: 'feed'`
 * those made before the trace (a model's parameters) become graph inputs fed from their
 * current data at every call, so the sessions of many shapes (an AR loop whose KV cache
 * grows each step) share one copy of the weights; with `weights: 'auto'` they are embedded
 * while the engine's embedded weights stay within its budget (a function with few shapes,
 * such as a diffusion head's fused steps, gets pre-packed weights; one with many shapes
 * falls back to feeding). A session whose captured tensors were disposed since (a
 * variable assigned, weights reloaded) is stale and is traced again.
 */
import { TesseraError } from '../../errors';
import type { TypedData } from '../engine';
import type { DType, Tensor } from '../ops';
import { GraphBuilder, Value } from './graph';
import { HostValue, OrtSession, SessionSettings } from './runtime';
import { OnnxTensor, peekTensorId } from './tensor';

export type WeightMode = 'embed' | 'feed' | 'auto';

/** A nest of tensors: a tensor, an array of nests, or a plain object of nests. */
export type TensorTree = Tensor | TensorTree[] | { [key: string]: TensorTree };

export interface TensorSpec {
  readonly shape: readonly number[];
  readonly dtype: string;
}

export interface CompileOptions {
  /** `embed` (default): weights are initializers; `feed`: inputs shared by all shapes' sessions; `auto`: embedded within the engine's budget, else fed. */
  weights?: WeightMode;
  /**
   * `auto` only: embed a graph's weights only when they total at most this many bytes
   * (a function with one session per step of a long loop sets it, so that small models
   * get pre-packed weights and large ones share one fed copy).
   */
  embedMaxBytes?: number;
  /** Intra-op threads of this function's sessions (default: the engine's). */
  threads?: number;
  /** Graph name in exported models. */
  name?: string;
}

/** A function compiled by the onnx engine: call it with concrete tensors of any shapes. */
export interface CompiledFunction<O extends TensorTree> {
  (...inputs: Tensor[]): O;
  /** Sessions held now (one per input-shape signature). */
  readonly sessions: number;
  /** Traces made so far (a new shape, or a stale session). */
  readonly traces: number;
  dispose(): void;
}

/** The graph being traced. */
export class Trace {
  readonly g = new GraphBuilder(false);
  readonly startId = peekTensorId();
  closed = false;
  /** Tensors made before the trace whose values the graph uses, with the input that feeds them (feed mode). */
  readonly external: { tensor: OnnxTensor; input?: string }[] = [];
  private readonly captured = new Map<OnnxTensor, Value>();

  constructor(readonly weights: WeightMode) {}

  valueOf(t: OnnxTensor): Value {
    if (t.symbol) {
      if (t.symbol.trace !== this) {
        throw new TesseraError('OP_UNSUPPORTED', 'a traced tensor was used outside the trace that made it (keep traced values inside the compiled function; return them as outputs)');
      }
      return t.symbol.value;
    }
    let v = this.captured.get(t);
    if (v) return v;
    const before = t.id < this.startId;
    if (before && this.weights !== 'embed') {
      v = this.g.input(t.dtype, t.shape, this.g.fresh('weight'));
      this.external.push({ tensor: t, input: v.name });
    } else {
      v = this.g.constant(t.data, t.dtype, t.shape);
      if (before) this.external.push({ tensor: t });
    }
    this.captured.set(t, v);
    return v;
  }
}

/**
 * The engine-wide budget of weights that `weights: 'auto'` graphs embed: a trace's fed
 * weights become initializers when they fit what is left (and the graph's own cap); the
 * graph gives its share back when disposed.
 */
export class EmbedBudget {
  private used = 0;

  constructor(readonly bytes: number) {}

  /** Embeds the weights `trace` feeds if they fit; returns the release to call on dispose, or undefined (still fed). */
  embed(trace: Trace, maxBytes: number): (() => void) | undefined {
    const fed = trace.external.filter((e) => e.input !== undefined);
    const bytes = fed.reduce((n, e) => n + (e.tensor.data as TypedData).byteLength, 0);
    if (bytes === 0 || bytes > maxBytes || this.used + bytes > this.bytes) return undefined;
    for (const e of fed) {
      trace.g.inputToInitializer(e.input as string, e.tensor.data as TypedData);
      e.input = undefined; // still external: a replaced weight makes the graph stale
    }
    this.used += bytes;
    return () => { this.used -= bytes; };
  }
}

class Leaf {
  constructor(readonly index: number) {}
}
type Template = Leaf | Template[] | { [key: string]: Template };

export function flattenTree(tree: unknown, leaves: OnnxTensor[]): Template {
  if (tree instanceof OnnxTensor) return new Leaf(leaves.push(tree) - 1);
  if (Array.isArray(tree)) return tree.map((t) => flattenTree(t, leaves));
  if (tree && typeof tree === 'object' && Object.getPrototypeOf(tree) === Object.prototype) {
    return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, flattenTree(v, leaves)]));
  }
  throw new TesseraError('OP_UNSUPPORTED', `a traced function must return tensors, arrays or plain objects of tensors; got ${String(tree)}`);
}

export function rebuildTree(t: Template, leaves: readonly Tensor[]): TensorTree {
  if (t instanceof Leaf) return leaves[t.index];
  if (Array.isArray(t)) return t.map((x) => rebuildTree(x, leaves));
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, rebuildTree(v, leaves)]));
}

/** One traced graph: its ONNX model, and a session made on first run. */
export class TracedGraph {
  private session: OrtSession | undefined;
  private bytes: Uint8Array | undefined;

  constructor(
    model: Uint8Array,
    readonly inputs: readonly Value[],
    readonly outputs: readonly Value[],
    readonly template: Template,
    private readonly external: Trace['external'],
    private readonly settings: SessionSettings,
    /** MatMul/Gemm/Conv FLOPs of one run (flops.ts). */
    readonly flops = 0,
    /** Called once when the graph is disposed (the engine's embedded-weight accounting). */
    private onDispose?: () => void,
  ) {
    this.bytes = model;
  }

  /** The ONNX ModelProto bytes (what `tessera export` writes). */
  get model(): Uint8Array {
    if (!this.bytes) throw new TesseraError('OP_UNSUPPORTED', 'the model bytes of this graph were released once its session was made (compiled functions keep only the session); use `trace` to export');
    return this.bytes;
  }

  /** Drops the model bytes once a session holds the graph (halves the memory of large models). */
  releaseModel(): void {
    this.session ??= new OrtSession(this.model, this.settings);
    this.bytes = undefined;
  }

  /** True when a captured tensor was disposed since the trace: the graph holds old values. */
  get stale(): boolean {
    return this.external.some((e) => e.tensor.disposed);
  }

  /** Runs on host values of the traced input shapes; returns the outputs' data. */
  run(inputs: readonly { shape: readonly number[]; dtype: DType; data: TypedData }[]): TypedData[] {
    if (this.stale) throw new TesseraError('OP_UNSUPPORTED', 'this traced graph captured tensors that were disposed since; trace it again');
    this.session ??= new OrtSession(this.model, this.settings);
    const feeds = new Map<string, HostValue>();
    inputs.forEach((x, i) => {
      const want = this.inputs[i];
      if (x.dtype !== want.dtype || x.shape.length !== want.shape.length || x.shape.some((d, j) => d !== want.shape[j])) {
        throw new TesseraError('SHAPE_MISMATCH', `input ${i} is ${x.dtype}[${x.shape.join(', ')}], the graph was traced for ${want.dtype}[${want.shape.join(', ')}]`);
      }
      feeds.set(want.name, x);
    });
    for (const e of this.external) if (e.input) feeds.set(e.input, e.tensor);
    return this.session.run(feeds, this.outputs.map((o) => o.name));
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
    const done = this.onDispose;
    this.onDispose = undefined;
    done?.();
  }
}

/** Input-shape signature of a call. */
export function signature(xs: readonly TensorSpec[]): string {
  return xs.map((x) => `${x.dtype}[${x.shape.join(',')}]`).join(';');
}

/** What `compile` needs from the engine. */
export interface TraceHost {
  /** True when called inside another trace with symbolic inputs: the function is then inlined. */
  isTracing(xs: readonly Tensor[]): boolean;
  trace(fn: (...xs: Tensor[]) => TensorTree, inputs: readonly TensorSpec[], options: CompileOptions): TracedGraph;
  wrapOutputs(graph: TracedGraph, data: TypedData[]): TensorTree;
  checkConcrete(xs: readonly Tensor[]): OnnxTensor[];
}

export function compileFunction<O extends TensorTree>(host: TraceHost, fn: (...xs: Tensor[]) => O, options: CompileOptions): CompiledFunction<O> {
  const cache = new Map<string, TracedGraph>();
  let traces = 0;
  const call = (...inputs: Tensor[]): O => {
    if (host.isTracing(inputs)) return fn(...inputs);
    const xs = host.checkConcrete(inputs);
    const key = signature(xs);
    let graph = cache.get(key);
    if (graph?.stale) {
      graph.dispose();
      graph = undefined;
    }
    if (!graph) {
      graph = host.trace(fn, xs, options);
      graph.releaseModel();
      traces++;
      cache.set(key, graph);
    }
    return host.wrapOutputs(graph, graph.run(xs.map((x) => ({ shape: x.shape, dtype: x.dtype, data: x.data })))) as O;
  };
  return Object.defineProperties(call, {
    sessions: { get: () => cache.size },
    traces: { get: () => traces },
    dispose: {
      value: () => {
        for (const g of cache.values()) g.dispose();
        cache.clear();
      },
    },
  }) as CompiledFunction<O>;
}

/**
 * `fn` compiled where the engine can trace (onnx), `fn` itself elsewhere (tfjs runs it
 * eagerly): sampling loops call this once per step function and stay engine-agnostic.
 *
 * @example const step = compileIfSupported(F, (x, k, v) => backbone.step(x, k, v), { weights: 'feed' });
 */
export function compileIfSupported<O extends TensorTree>(engine: object, fn: (...xs: Tensor[]) => O, options: CompileOptions = {}): CompiledFunction<O> {
  const compile = (engine as { compile?: (f: typeof fn, o: CompileOptions) => CompiledFunction<O> }).compile;
  if (typeof compile === 'function') return compile.call(engine, fn, options);
  return Object.defineProperties((...xs: Tensor[]) => fn(...xs), { sessions: { value: 0 }, traces: { value: 0 }, dispose: { value: () => undefined } }) as CompiledFunction<O>;
}
