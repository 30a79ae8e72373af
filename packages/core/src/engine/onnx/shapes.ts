/**
 * Static shape rules of the op set (numpy broadcasting, reductions, matmul, conv, ...).
 * The onnx engine knows every shape before it runs anything, so traced tensors expose
 * `.shape` to model code, and mistakes are reported in the op that made them, with
 * PyTorch's wording, rather than deep inside onnxruntime.
 */
import { TesseraError } from '../../errors';

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

export function shapeError(op: string, message: string, data: Record<string, unknown> = {}): TesseraError {
  return new TesseraError('SHAPE_MISMATCH', `\`${op}\`: ${message}`, { data: { op, ...data } });
}

export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const e = s[s.length - rank + i] ?? 1;
      if (e === 1) continue;
      if (d !== 1 && d !== e) throw shapeError(op, `shapes ${shapes.map(fmt).join(' and ')} do not broadcast`, { shapes: shapes.map((x) => [...x]) });
      d = e;
    }
    out.push(d);
  }
  return out;
}

/** A possibly negative axis into [0, rank). */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw shapeError(op, `axis ${axis} is out of range for rank ${rank}`, { axis, rank });
  return a;
}

/** Sorted unique axes; `undefined` means all. */
export function normAxes(op: string, axes: number | number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => normAxis(op, a, rank)))].sort((a, b) => a - b);
}

export function reducedShape(shape: readonly number[], axes: number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Resolves one `-1` in a reshape target. */
export function reshapeTarget(from: readonly number[], to: readonly number[]): number[] {
  const n = numel(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw shapeError('reshape', `at most one -1 is allowed in ${fmt(to)}`);
  const known = numel(to.filter((d) => d !== -1));
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d));
  if (numel(out) !== n || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw shapeError('reshape', `cannot reshape ${fmt(from)} (${n} elements) to ${fmt(to)}`, { from: [...from], to: [...to] });
  }
  return out;
}

export function matmulShape(a: readonly number[], b: readonly number[], transposeA: boolean, transposeB: boolean): number[] {
  if (a.length < 2 || b.length < 2) throw shapeError('matmul', `needs rank >= 2 operands, got ${fmt(a)} and ${fmt(b)}`);
  const [m, ka] = transposeA ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]];
  const [kb, n] = transposeB ? [b[b.length - 1], b[b.length - 2]] : [b[b.length - 2], b[b.length - 1]];
  if (ka !== kb) throw shapeError('matmul', `inner dimensions differ: ${fmt(a)} x ${fmt(b)} (transposeA=${transposeA}, transposeB=${transposeB})`, { a: [...a], b: [...b] });
  return [...broadcastShapes('matmul', a.slice(0, -2), b.slice(0, -2)), m, n];
}

export function convShape(x: readonly number[], w: readonly number[], stride: [number, number], pad: [number, number], dilation: [number, number], groups: number): number[] {
  if (x.length !== 4 || w.length !== 4) throw shapeError('conv2d', `expects NCHW input and OIHW weight, got ${fmt(x)} and ${fmt(w)}`);
  if (x[1] !== w[1] * groups || w[0] % groups !== 0) {
    throw shapeError('conv2d', `input channels ${x[1]} do not match weight ${fmt(w)} with ${groups} group(s)`, { x: [...x], w: [...w], groups });
  }
  const out = (i: number, k: number, s: number, p: number, d: number): number => Math.floor((i + 2 * p - d * (k - 1) - 1) / s) + 1;
  return [x[0], w[0], out(x[2], w[2], stride[0], pad[0], dilation[0]), out(x[3], w[3], stride[1], pad[1], dilation[1])];
}
