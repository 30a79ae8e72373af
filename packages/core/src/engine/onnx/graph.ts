/**
 * An ONNX graph under construction, and its encoding as a `ModelProto` (IR 8, opset 20)
 * with the maintained `onnx-proto` package. The onnx engine records ops into one of these:
 * a one-op graph per eager call, or one graph for a whole traced function.
 *
 * Every value carries its static shape and dtype, so model code can read `.shape` of a
 * traced tensor exactly as of a concrete one. Eager graphs feed numeric scalars as inputs
 * (`scalar()`), so that `mul(x, t)` for a new `t` reuses the same session; traced graphs
 * bake them in as constants. The structural `key()` of an eager graph (node list, input
 * shapes, small constants; never data) names its cached session.
 */
import type { TypedData } from '../engine';
import type { DType } from '../ops';
import { TesseraError } from '../../errors';
import type { onnx } from 'onnx-proto';

export const OPSET = 20;
export const IR_VERSION = 8;

/** A value in a graph: a graph input, an initializer or a node output. */
export interface Value {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: DType;
}

/** Attributes: integers, integer lists and strings are all the lowerings need. */
export type Attr = number | number[] | string;

export interface GraphNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  /** Operator domain: '' (ONNX) or 'com.microsoft' (onnxruntime's contrib ops, e.g. int8 GEMMs). */
  domain?: string;
}

interface Initializer {
  name: string;
  elemType: number;
  shape: number[];
  data: TypedData | BigInt64Array;
}

/** ONNX TensorProto.DataType codes. */
export const ELEM_TYPE: Record<DType | 'int64' | 'int8', number> = { float32: 1, int32: 6, bool: 9, int64: 7, int8: 3 };

export class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  /** Shape of every named value made through `input`, `constant` or `op` (FLOP counts read it). */
  readonly shapes = new Map<string, readonly number[]>();
  /** Values of the scalar inputs of an eager graph, by input name. */
  readonly scalarFeeds = new Map<string, { dtype: DType; value: number }>();
  private readonly initializers: Initializer[] = [];
  /** Names made by nodes (not inputs or initializers). */
  private readonly nodeOutputs = new Set<string>();
  private readonly constantNames = new Map<string, string>();
  private counter = 0;

  /** `scalarsAsInputs`: eager graphs feed numbers; traced graphs embed them. */
  constructor(readonly scalarsAsInputs: boolean) {}

  fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  input(dtype: DType, shape: readonly number[], name = this.fresh('in')): Value {
    const v = { name, shape: [...shape], dtype };
    this.inputs.push(v);
    this.shapes.set(name, v.shape);
    return v;
  }

  output(v: Value): void {
    this.outputs.push(v);
  }

  /** A number as a rank-0 value of `dtype`. */
  scalar(value: number, dtype: DType): Value {
    if (this.scalarsAsInputs) {
      const v = this.input(dtype, [], this.fresh('num'));
      this.scalarFeeds.set(v.name, { dtype, value });
      return v;
    }
    return this.constant(typedOf(dtype, [value]), dtype, []);
  }

  /** An int64 1-D constant (axes, shapes, pads, ...); deduplicated by content. */
  int64s(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constantNames.get(key);
    if (!name) {
      name = this.fresh('c');
      this.initializers.push({ name, elemType: ELEM_TYPE.int64, shape: [values.length], data: BigInt64Array.from(values.map((x) => BigInt(x))) });
      this.constantNames.set(key, name);
    }
    return name;
  }

  /** A tensor constant: host data becomes an initializer (a model's weights, a resize matrix). */
  constant(data: TypedData, dtype: DType, shape: readonly number[], name = this.fresh('w')): Value {
    this.initializers.push({ name, elemType: ELEM_TYPE[dtype], shape: [...shape], data });
    this.shapes.set(name, [...shape]);
    return { name, shape: [...shape], dtype };
  }

  /** An int8 initializer (quantized weights); not a `Value`, since no op of the op set reads int8. */
  int8Constant(data: Int8Array, shape: readonly number[]): string {
    const name = this.fresh('q');
    this.initializers.push({ name, elemType: ELEM_TYPE.int8, shape: [...shape], data: data as unknown as TypedData });
    this.shapes.set(name, [...shape]);
    return name;
  }

  /** Adds a node; returns its output names. */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, nOutputs = 1, domain = ''): string[] {
    const outputs = Array.from({ length: nOutputs }, () => this.fresh('v'));
    for (const o of outputs) this.nodeOutputs.add(o);
    this.nodes.push({ op, inputs, outputs, attrs, ...(domain ? { domain } : {}) });
    return outputs;
  }

  /** A one-output node with its (already inferred) output shape and dtype. */
  op(op: string, inputs: (Value | string)[], shape: number[], dtype: DType, attrs: Record<string, Attr> = {}): Value {
    const [name] = this.node(op, inputs.map((x) => (typeof x === 'string' ? x : x.name)), attrs);
    this.shapes.set(name, shape);
    return { name, shape, dtype };
  }

  /** True when a node computes `name` (so it can be a graph output as it is). */
  isNodeOutput(name: string): boolean {
    return this.nodeOutputs.has(name);
  }

  /** Turns the graph input `name` into an initializer holding `data` (weights embedded after tracing). */
  inputToInitializer(name: string, data: TypedData): void {
    const at = this.inputs.findIndex((v) => v.name === name);
    if (at < 0) throw new TesseraError('OP_UNSUPPORTED', `no graph input \`${name}\` to embed`);
    const [v] = this.inputs.splice(at, 1);
    this.initializers.push({ name, elemType: ELEM_TYPE[v.dtype], shape: [...v.shape], data });
  }

  /** Structural identity of the graph, without scalar or tensor data (the eager session cache key). */
  key(): string {
    const sig = (v: Value): string => `${v.name}:${v.dtype}[${v.shape.join(',')}]`;
    const consts = this.initializers.map((i) => `${i.name}=${i.elemType}[${i.shape.join(',')}]` + (i.elemType === ELEM_TYPE.int64 ? `{${Array.from(i.data as BigInt64Array).join(',')}}` : '#'));
    return JSON.stringify([this.inputs.map(sig), this.outputs.map(sig), consts, this.nodes.map((n) => [n.domain ?? '', n.op, n.inputs, n.outputs, n.attrs])]);
  }

  /** The serialized ModelProto. Requires `onnx-proto` (loaded on first use). */
  encode(graphName = 'tessera'): Uint8Array {
    const { onnx: P } = loadOnnxProto();
    const valueInfo = (v: Value): onnx.IValueInfoProto => ({
      name: v.name,
      type: { tensorType: { elemType: ELEM_TYPE[v.dtype], shape: { dim: v.shape.map((d) => ({ dimValue: d })) } } },
    });
    const attribute = (name: string, a: Attr): onnx.IAttributeProto => {
      const T = P.AttributeProto.AttributeType;
      if (typeof a === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(a) };
      if (Array.isArray(a)) return { name, type: T.INTS, ints: a };
      if (!Number.isInteger(a)) throw new TesseraError('OP_UNSUPPORTED', `attribute \`${name}\` must be an integer, got ${a}`);
      return { name, type: T.INT, i: a };
    };
    const graph = P.GraphProto.create({
      name: graphName,
      node: this.nodes.map((n) => P.NodeProto.create({ opType: n.op, ...(n.domain ? { domain: n.domain } : {}), input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)) })),
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
      initializer: this.initializers.map((i) =>
        P.TensorProto.create({ name: i.name, dims: i.shape, dataType: i.elemType, rawData: new Uint8Array(i.data.buffer, i.data.byteOffset, i.data.byteLength) }),
      ),
    });
    const domains = [...new Set(this.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''))];
    const opsetImport = [{ domain: '', version: OPSET }, ...domains.map((domain) => ({ domain, version: 1 }))];
    const model = P.ModelProto.create({ irVersion: IR_VERSION, producerName: 'tessera', opsetImport, graph });
    return P.ModelProto.encode(model).finish();
  }
}

/** Host data of a dtype from numbers (bool as 0/1 bytes). */
export function typedOf(dtype: DType, values: ArrayLike<number>): TypedData {
  if (dtype === 'float32') return Float32Array.from(values);
  if (dtype === 'int32') return Int32Array.from(values);
  return Uint8Array.from(values, (x) => (x ? 1 : 0));
}

type OnnxProtoModule = { onnx: typeof onnx };
let onnxProto: OnnxProtoModule | undefined;

function loadOnnxProto(): OnnxProtoModule {
  if (!onnxProto) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      onnxProto = require('onnx-proto') as OnnxProtoModule;
    } catch (e) {
      throw new TesseraError('ENGINE_UNAVAILABLE', 'the onnx engine needs the `onnx-proto` package to build graphs; it is not installed', { cause: e });
    }
  }
  return onnxProto;
}
