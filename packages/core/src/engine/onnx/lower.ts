/**
 * Lowering of the op set (engine/ops.ts) to ONNX opset 20 nodes. Each function adds the
 * nodes of one op to a graph and returns its output values with their inferred shapes.
 * Semantics follow the tfjs engine (PyTorch's, NCHW): numbers take the dtype of the tensor
 * beside them; mixed dtypes are promoted bool < int32 < float32; int32 division floors;
 * ops ONNX defines only for floats cast integer inputs to float32 first, as tfjs does.
 * The layer ops that have a composite in engine/composite.ts are not lowered here.
 */
import type { DType } from '../ops';
import { GraphBuilder, Value } from './graph';
import { broadcastShapes, convShape, matmulShape, normAxes, normAxis, reducedShape, reshapeTarget, shapeError } from './shapes';

export type Operand = Value | number;

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2 };
const TO: Record<DType, number> = { float32: 1, int32: 6, bool: 9 };
const INT64_MIN = -(2 ** 63);

export function cast(g: GraphBuilder, x: Value, dtype: DType): Value {
  if (x.dtype === dtype) return x;
  return g.op('Cast', [x], x.shape, dtype, { to: TO[dtype] });
}

/** Tensors of one dtype from a mix of tensors and numbers. */
function promote(g: GraphBuilder, xs: Operand[]): Value[] {
  const tensors = xs.filter((x): x is Value => typeof x !== 'number');
  const dtype = tensors.length ? tensors.map((t) => t.dtype).reduce((a, b) => (RANK[a] >= RANK[b] ? a : b)) : 'float32';
  return xs.map((x) => (typeof x === 'number' ? g.scalar(x, dtype) : cast(g, x, dtype)));
}

const BINARY = {
  add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min',
  equal: 'Equal', greater: 'Greater', greaterEqual: 'GreaterOrEqual', less: 'Less', lessEqual: 'LessOrEqual', logicalAnd: 'And',
} as const;
export type BinaryOp = keyof typeof BINARY;

export function binary(g: GraphBuilder, op: BinaryOp, a: Operand, b: Operand): Value {
  let [x, y] = promote(g, [a, b]);
  const shape = broadcastShapes(op, x.shape, y.shape);
  const compare = op !== 'add' && op !== 'sub' && op !== 'mul' && op !== 'div' && op !== 'pow' && op !== 'maximum' && op !== 'minimum';
  if (op === 'logicalAnd') [x, y] = [cast(g, x, 'bool'), cast(g, y, 'bool')];
  else if (x.dtype === 'bool' && !(op === 'equal')) [x, y] = [cast(g, x, 'int32'), cast(g, y, 'int32')];
  if (op === 'div' && x.dtype === 'int32') {
    // tfjs divides int32 tensors with floor division
    const q = g.op('Div', [cast(g, x, 'float32'), cast(g, y, 'float32')], shape, 'float32');
    return cast(g, g.op('Floor', [q], shape, 'float32'), 'int32');
  }
  return g.op(BINARY[op], [x, y], shape, compare ? 'bool' : x.dtype);
}

export function where(g: GraphBuilder, cond: Value, a: Operand, b: Operand): Value {
  const [x, y] = promote(g, [a, b]);
  const shape = broadcastShapes('where', cond.shape, x.shape, y.shape);
  return g.op('Where', [cast(g, cond, 'bool'), x, y], shape, x.dtype);
}

const FLOAT_UNARY = { exp: 'Exp', log: 'Log', sqrt: 'Sqrt', sin: 'Sin', cos: 'Cos', tanh: 'Tanh', sigmoid: 'Sigmoid', erf: 'Erf', floor: 'Floor', round: 'Round' } as const;
const ANY_UNARY = { neg: 'Neg', abs: 'Abs', sign: 'Sign', relu: 'Relu', logicalNot: 'Not', stopGradient: 'Identity' } as const;
export type UnaryOp = keyof typeof FLOAT_UNARY | keyof typeof ANY_UNARY | 'rsqrt' | 'square' | 'silu' | 'gelu' | 'geluTanh';

export function unary(g: GraphBuilder, op: UnaryOp, x: Value): Value {
  if (op in ANY_UNARY) {
    const input = op === 'logicalNot' ? cast(g, x, 'bool') : x.dtype === 'bool' && op !== 'stopGradient' ? cast(g, x, 'int32') : x;
    return g.op(ANY_UNARY[op as keyof typeof ANY_UNARY], [input], x.shape, input.dtype);
  }
  if (op === 'square') return g.op('Mul', [x, x], x.shape, x.dtype);
  const f = cast(g, x, 'float32');
  switch (op) {
    case 'rsqrt': return g.op('Reciprocal', [g.op('Sqrt', [f], f.shape, 'float32')], f.shape, 'float32');
    case 'silu': return g.op('Mul', [f, g.op('Sigmoid', [f], f.shape, 'float32')], f.shape, 'float32');
    case 'gelu': return g.op('Gelu', [f], f.shape, 'float32', { approximate: 'none' });
    case 'geluTanh': return g.op('Gelu', [f], f.shape, 'float32', { approximate: 'tanh' });
    default: return g.op(FLOAT_UNARY[op as keyof typeof FLOAT_UNARY], [f], f.shape, 'float32');
  }
}

export function clip(g: GraphBuilder, x: Value, min: number, max: number): Value {
  return g.op('Clip', [x, g.scalar(min, x.dtype), g.scalar(max, x.dtype)], x.shape, x.dtype);
}

/** Swaps the last two axes. */
function transposeLast(g: GraphBuilder, x: Value): Value {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [r - 1, r - 2];
  return transpose(g, x, perm);
}

export function matmul(g: GraphBuilder, a: Value, b: Value, transposeA: boolean, transposeB: boolean): Value {
  const shape = matmulShape(a.shape, b.shape, transposeA, transposeB);
  return g.op('MatMul', [transposeA ? transposeLast(g, a) : a, transposeB ? transposeLast(g, b) : b], shape, 'float32');
}

/** x[..., in] W[out, in]^T + b[out] as one Gemm on the flattened rows. */
export function linear(g: GraphBuilder, x: Value, w: Value, b: Value | undefined): Value {
  const inF = x.shape[x.shape.length - 1];
  if (w.shape.length !== 2 || w.shape[1] !== inF) throw shapeError('linear', `weight [${w.shape.join(', ')}] does not fit input [${x.shape.join(', ')}]`);
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const x2 = x.shape.length === 2 ? x : reshape(g, x, [rows, inF]);
  const y = g.op('Gemm', b ? [x2, w, b] : [x2, w], [rows, w.shape[0]], 'float32', { transB: 1 });
  return x.shape.length === 2 ? y : reshape(g, y, [...x.shape.slice(0, -1), w.shape[0]]);
}

const REDUCE = { sum: 'ReduceSum', mean: 'ReduceMean', max: 'ReduceMax', min: 'ReduceMin' } as const;

export function reduce(g: GraphBuilder, op: keyof typeof REDUCE, x: Value, axes: number | number[] | undefined, keepDims: boolean): Value {
  const ax = normAxes(op, axes, x.shape.length);
  const input = op === 'mean' ? cast(g, x, 'float32') : x.dtype === 'bool' ? cast(g, x, 'int32') : x;
  const shape = reducedShape(x.shape, ax, keepDims);
  if (ax.length === 0) return g.op('Identity', [input], shape, input.dtype);
  return g.op(REDUCE[op], [input, g.int64s(ax)], shape, input.dtype, { keepdims: keepDims ? 1 : 0 });
}

export function argReduce(g: GraphBuilder, op: 'argmax' | 'argmin', x: Value, axis: number): Value {
  const a = normAxis(op, axis, x.shape.length);
  const input = x.dtype === 'bool' ? cast(g, x, 'int32') : x;
  const shape = x.shape.filter((_, i) => i !== a);
  const [idx] = g.node(op === 'argmax' ? 'ArgMax' : 'ArgMin', [input.name], { axis: a, keepdims: 0, select_last_index: 0 });
  return g.op('Cast', [idx], shape, 'int32', { to: TO.int32 });
}

export function cumsum(g: GraphBuilder, x: Value, axis: number): Value {
  const a = normAxis('cumsum', axis, x.shape.length);
  const input = x.dtype === 'bool' ? cast(g, x, 'int32') : x;
  return g.op('CumSum', [input, g.scalar(a, 'int32')], x.shape, input.dtype);
}

export function softmax(g: GraphBuilder, x: Value, axis: number, log: boolean): Value {
  const a = normAxis(log ? 'logSoftmax' : 'softmax', axis, x.shape.length);
  return g.op(log ? 'LogSoftmax' : 'Softmax', [cast(g, x, 'float32')], x.shape, 'float32', { axis: a });
}

export function reshape(g: GraphBuilder, x: Value, shape: number[]): Value {
  const target = reshapeTarget(x.shape, shape);
  return g.op('Reshape', [x.name, g.int64s(target)], target, x.dtype, { allowzero: target.includes(0) ? 1 : 0 });
}

export function transpose(g: GraphBuilder, x: Value, perm: number[]): Value {
  const r = x.shape.length;
  const p = perm.map((a) => normAxis('transpose', a, r));
  if (new Set(p).size !== r || p.length !== r) throw shapeError('transpose', `perm [${perm.join(', ')}] is not a permutation of ${r} axes`);
  return g.op('Transpose', [x], p.map((a) => x.shape[a]), x.dtype, { perm: p });
}

export function concat(g: GraphBuilder, xs: Value[], axis: number): Value {
  if (xs.length === 0) throw shapeError('concat', 'needs at least one tensor');
  const a = normAxis('concat', axis, xs[0].shape.length);
  const ys = promote(g, xs);
  const shape = [...xs[0].shape];
  shape[a] = 0;
  for (const x of xs) {
    if (x.shape.length !== shape.length || x.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw shapeError('concat', `shapes ${xs.map((v) => `[${v.shape.join(', ')}]`).join(', ')} differ off axis ${a}`);
    }
    shape[a] += x.shape[a];
  }
  return g.op('Concat', ys, shape, ys[0].dtype, { axis: a });
}

export function stack(g: GraphBuilder, xs: Value[], axis: number): Value {
  const a = axis < 0 ? axis + xs[0].shape.length + 1 : axis;
  return concat(g, xs.map((x) => expandDims(g, x, a)), a);
}

export function slice(g: GraphBuilder, x: Value, begin: number[], size: number[]): Value {
  const r = x.shape.length;
  const starts = x.shape.map((_, i) => begin[i] ?? 0);
  const shape = x.shape.map((d, i) => (size[i] === undefined || size[i] === -1 ? d - starts[i] : size[i]));
  if (shape.some((s, i) => starts[i] < 0 || s < 0 || starts[i] + s > x.shape[i])) {
    throw shapeError('slice', `begin [${begin.join(', ')}] size [${size.join(', ')}] exceed shape [${x.shape.join(', ')}]`);
  }
  const axes = [...Array(r).keys()];
  return g.op('Slice', [x.name, g.int64s(starts), g.int64s(starts.map((s, i) => s + shape[i])), g.int64s(axes)], shape, x.dtype);
}

export function split(g: GraphBuilder, x: Value, sizes: number[], axis: number): Value[] {
  const a = normAxis('split', axis, x.shape.length);
  if (sizes.reduce((p, s) => p + s, 0) !== x.shape[a]) throw shapeError('split', `sizes [${sizes.join(', ')}] do not add up to ${x.shape[a]} (axis ${a})`);
  const names = g.node('Split', [x.name, g.int64s(sizes)], { axis: a }, sizes.length);
  return names.map((name, i) => ({ name, dtype: x.dtype, shape: x.shape.map((d, j) => (j === a ? sizes[i] : d)) }));
}

export function gather(g: GraphBuilder, x: Value, indices: Value, axis: number): Value {
  const a = normAxis('gather', axis, x.shape.length);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return g.op('Gather', [x, cast(g, indices, 'int32')], shape, x.dtype, { axis: a });
}

export function gatherAlong(g: GraphBuilder, x: Value, indices: Value, axis: number): Value {
  const a = normAxis('gatherAlong', axis, x.shape.length);
  return g.op('GatherElements', [x, cast(g, indices, 'int32')], [...indices.shape], x.dtype, { axis: a });
}

export function pad(g: GraphBuilder, x: Value, paddings: [number, number][], value: number): Value {
  const p = x.shape.map((_, i) => paddings[i] ?? [0, 0]);
  const shape = x.shape.map((d, i) => d + p[i][0] + p[i][1]);
  return g.op('Pad', [x.name, g.int64s([...p.map((q) => q[0]), ...p.map((q) => q[1])]), g.scalar(value, x.dtype).name], shape, x.dtype, { mode: 'constant' });
}

export function tile(g: GraphBuilder, x: Value, reps: number[]): Value {
  if (reps.length !== x.shape.length) throw shapeError('tile', `reps [${reps.join(', ')}] must have one entry per axis of [${x.shape.join(', ')}]`);
  return g.op('Tile', [x.name, g.int64s(reps)], x.shape.map((d, i) => d * reps[i]), x.dtype);
}

export function broadcastTo(g: GraphBuilder, x: Value, shape: number[]): Value {
  const out = broadcastShapes('broadcastTo', x.shape, shape);
  if (out.length !== shape.length || out.some((d, i) => d !== shape[i])) throw shapeError('broadcastTo', `cannot broadcast [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  return g.op('Expand', [x.name, g.int64s(shape)], [...shape], x.dtype);
}

export function expandDims(g: GraphBuilder, x: Value, axis: number): Value {
  const a = normAxis('expandDims', axis, x.shape.length + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return g.op('Unsqueeze', [x.name, g.int64s([a])], shape, x.dtype);
}

export function squeeze(g: GraphBuilder, x: Value, axes?: number[]): Value {
  const ax = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes('squeeze', axes, x.shape.length);
  if (ax.some((a) => x.shape[a] !== 1)) throw shapeError('squeeze', `axes [${axes?.join(', ')}] of [${x.shape.join(', ')}] are not all of size 1`);
  const shape = x.shape.filter((_, i) => !ax.includes(i));
  if (ax.length === 0) return g.op('Identity', [x], shape, x.dtype);
  return g.op('Squeeze', [x.name, g.int64s(ax)], shape, x.dtype);
}

export function flip(g: GraphBuilder, x: Value, axes: number[]): Value {
  const ax = normAxes('flip', axes, x.shape.length);
  if (ax.length === 0) return g.op('Identity', [x], [...x.shape], x.dtype);
  const ins = [x.name, g.int64s(ax.map(() => -1)), g.int64s(ax.map(() => INT64_MIN)), g.int64s(ax), g.int64s(ax.map(() => -1))];
  return g.op('Slice', ins, [...x.shape], x.dtype);
}

/** Equality with 0..depth-1 (out-of-range indices, negative ones included, give a zero row as tfjs does). */
export function oneHot(g: GraphBuilder, indices: Value, depth: number): Value {
  const range = g.constant(Int32Array.from({ length: depth }, (_, i) => i), 'int32', [depth]);
  const eq = binary(g, 'equal', expandDims(g, cast(g, indices, 'int32'), -1), range);
  return cast(g, eq, 'float32');
}

export function topk(g: GraphBuilder, x: Value, k: number): [Value, Value] {
  const r = x.shape.length;
  if (k > x.shape[r - 1]) throw shapeError('topk', `k = ${k} exceeds the last axis of [${x.shape.join(', ')}]`);
  const shape = [...x.shape.slice(0, -1), k];
  const [values, idx] = g.node('TopK', [x.name, g.int64s([k])], { axis: -1, largest: 1, sorted: 1 }, 2);
  return [{ name: values, shape, dtype: x.dtype }, g.op('Cast', [idx], shape, 'int32', { to: TO.int32 })];
}

export interface ConvAttrs {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export function conv2d(g: GraphBuilder, x: Value, w: Value, b: Value | undefined, o: ConvAttrs): Value {
  const shape = convShape(x.shape, w.shape, o.stride, o.padding, o.dilation, o.groups);
  return g.op('Conv', b ? [x, w, b] : [x, w], shape, 'float32', {
    kernel_shape: w.shape.slice(2),
    pads: [o.padding[0], o.padding[1], o.padding[0], o.padding[1]],
    strides: o.stride,
    dilations: o.dilation,
    group: o.groups,
  });
}
