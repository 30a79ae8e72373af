/**
 * The onnx engine against the tfjs engine, op by op: every op of OP_NAMES runs on both
 * engines on the same inputs (edge cases included: broadcasting, numbers beside int
 * tensors, ties in argmax/topk, half-way rounding, out-of-range one-hot indices), eagerly
 * and traced into one graph, and must agree within 1e-5.
 */
import { expect } from 'chai';
import { Engine, OnnxEngine, OP_NAMES, OpName, Rng, Tensor, TfjsEngine } from '@tessera/core';

type Input = [ArrayLike<number>, number[], ('float32' | 'int32' | 'bool')?];
interface OpCase {
  name: string;
  ops: OpName[];
  inputs: Input[];
  fn: (F: Engine, xs: Tensor[]) => Tensor | Tensor[];
}

const rng = new Rng(11);
const randn = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
const ints = (...v: number[]): ArrayLike<number> => v;
const halves = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 3.7];

const CASES: OpCase[] = [
  { name: 'binary float ops broadcast', ops: ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'], inputs: [[randn(6), [2, 3]], [randn(3), [3]]],
    fn: (F, [a, b]) => [F.add(a, b), F.sub(a, 2), F.mul(3, b), F.div(a, b), F.pow(F.abs(a), b), F.maximum(a, b), F.minimum(a, 0.1)] },
  { name: 'int32 arithmetic keeps int32; division floors', ops: ['add', 'mul', 'div', 'sub'], inputs: [[ints(7, -7, 5, 0), [4], 'int32'], [ints(2, 2, -3, 4), [4], 'int32']],
    fn: (F, [a, b]) => [F.add(a, 1), F.mul(a, b), F.div(a, b), F.sub(a, b)].map((t) => F.cast(t, 'float32')) },
  { name: 'comparisons and logic', ops: ['equal', 'greater', 'greaterEqual', 'less', 'lessEqual', 'logicalAnd', 'logicalNot', 'where', 'cast'], inputs: [[ints(1, 2, 3, 4, 2, 0), [2, 3]], [ints(2, 2, 2), [3]]],
    fn: (F, [a, b]) => {
      const gt = F.greater(a, b), le = F.lessEqual(a, b);
      return [F.equal(a, b), gt, F.greaterEqual(a, 2), F.less(a, b), le, F.logicalAnd(gt, F.logicalNot(le)), F.where(gt, a, -1), F.where(le, 5, b)].map((t) => F.cast(t, 'float32'));
    } },
  { name: 'float unary ops', ops: ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'sin', 'cos', 'tanh', 'sigmoid', 'erf', 'relu', 'silu', 'gelu', 'clip', 'sign', 'stopGradient'], inputs: [[randn(12), [3, 4]]],
    fn: (F, [x]) => [F.neg(x), F.abs(x), F.exp(x), F.log(F.add(F.abs(x), 0.1)), F.sqrt(F.abs(x)), F.rsqrt(F.add(F.abs(x), 0.1)), F.square(x), F.sin(x), F.cos(x), F.tanh(x), F.sigmoid(x), F.erf(x),
      F.relu(x), F.silu(x), F.gelu(x), F.gelu(x, 'tanh'), F.clip(x, -0.5, 0.7), F.sign(x), F.stopGradient(x)] },
  { name: 'floor, round half to even, casts', ops: ['floor', 'round', 'cast', 'sign', 'abs', 'neg'], inputs: [[halves, [8]], [ints(-3, 0, 4), [3], 'int32']],
    fn: (F, [x, i]) => [F.floor(x), F.round(x), F.cast(F.cast(x, 'int32'), 'float32'), F.cast(F.sign(i), 'float32'), F.cast(F.abs(F.neg(i)), 'float32')] },
  { name: 'matmul with transposes and batch broadcast', ops: ['matmul'], inputs: [[randn(2 * 3 * 4), [2, 3, 4]], [randn(5 * 4), [5, 4]], [randn(3 * 5), [1, 3, 5]]],
    fn: (F, [a, b, c]) => [F.matmul(a, b, false, true), F.matmul(a, c, true, false), F.matmul(c, a, true, false), F.matmul(b, c, true, true)] },
  { name: 'reductions', ops: ['sum', 'mean', 'max', 'min'], inputs: [[randn(24), [2, 3, 4]]],
    fn: (F, [x]) => [F.sum(x), F.sum(x, [0, 2]), F.mean(x, -1, true), F.mean(x), F.max(x, 1), F.min(x, [1, 2], true), F.sum(x, [])] },
  { name: 'argmax and argmin take the first of ties', ops: ['argmax', 'argmin'], inputs: [[ints(1, 3, 3, 0, 0, -2, 5, -2), [2, 4]]],
    fn: (F, [x]) => [F.argmax(x, 1), F.argmin(x, -1), F.argmax(x, 0)].map((t) => F.cast(t, 'float32')) },
  { name: 'cumsum, softmax, logSoftmax', ops: ['cumsum', 'softmax', 'logSoftmax'], inputs: [[randn(24), [2, 3, 4]], [ints(1, 2, 3, 4), [4], 'int32']],
    fn: (F, [x, i]) => [F.cumsum(x, 1), F.cumsum(x, -1), F.cast(F.cumsum(i, 0), 'float32'), F.softmax(x), F.softmax(x, 1), F.logSoftmax(x, 0), F.logSoftmax(x)] },
  { name: 'reshape, transpose, concat, slice, stack, split', ops: ['reshape', 'transpose', 'concat', 'slice', 'stack', 'split'], inputs: [[randn(24), [2, 3, 4]], [randn(8), [2, 1, 4]]],
    fn: (F, [x, y]) => [F.reshape(x, [6, -1]), F.transpose(x, [2, 0, 1]), F.concat([x, y], 1), F.concat([x], 0), F.slice(x, [0, 1, 1], [-1, 2, 2]), F.stack([y, y, y], -1), ...F.split(x, [1, 3], 2)] },
  { name: 'gather, gatherAlong, embedding', ops: ['gather', 'gatherAlong', 'embedding'], inputs: [[randn(15), [5, 3]], [ints(4, 0, 4, 2), [2, 2], 'int32'], [ints(2, 0, 1, 1, 0, 2), [2, 3], 'int32']],
    fn: (F, [t, idx, along]) => [F.gather(t, idx, 0), F.gather(t, F.slice(along, [0, 0], [2, 2]), 1), F.gatherAlong(F.slice(t, [0, 0], [2, 3]), along, 1), F.embedding(idx, t)] },
  { name: 'pad, tile, broadcastTo, expandDims, squeeze, flip', ops: ['pad', 'tile', 'broadcastTo', 'expandDims', 'squeeze', 'flip'], inputs: [[randn(6), [1, 2, 3]]],
    fn: (F, [x]) => [F.pad(x, [[0, 0], [1, 2], [0, 1]], 0.5), F.pad(x, [[1, 0], [0, 0], [2, 2]]), F.tile(x, [2, 1, 3]), F.broadcastTo(x, [4, 2, 3]), F.expandDims(x, -1), F.expandDims(x, 1),
      F.squeeze(x), F.squeeze(x, [0]), F.flip(x, [1, 2]), F.flip(x, [-1])] },
  { name: 'oneHot (out-of-range rows are zero) and topk (ties keep the lower index)', ops: ['oneHot', 'topk'], inputs: [[ints(0, 3, 1, -1, 4), [5], 'int32'], [ints(1, 5, 5, 2, 7, 7, 0, 3), [2, 4]]],
    fn: (F, [i, x]) => {
      const { values, indices } = F.topk(x, 3);
      return [F.oneHot(i, 4), values, F.cast(indices, 'float32')];
    } },
  { name: 'linear, layerNorm, groupNorm', ops: ['linear', 'layerNorm', 'groupNorm'], inputs: [[randn(2 * 3 * 4), [2, 3, 4]], [randn(5 * 4), [5, 4]], [randn(5), [5]], [randn(4), [4]], [randn(2 * 4 * 3 * 2), [2, 4, 3, 2]]],
    fn: (F, [x, w, b, g, img]) => [F.linear(x, w, b), F.linear(F.reshape(x, [6, 4]), w), F.layerNorm(x, g, F.neg(g), 1e-5), F.layerNorm(x, undefined, undefined, 1e-6),
      F.groupNorm(img, 2, g, F.abs(g), 1e-5), F.groupNorm(img, 4, undefined, undefined, 1e-6)] },
  { name: 'conv2d: padding, stride, dilation, groups', ops: ['conv2d'], inputs: [[randn(2 * 4 * 7 * 6), [2, 4, 7, 6]], [randn(6 * 2 * 3 * 3), [6, 2, 3, 3]], [randn(6), [6]], [randn(3 * 4 * 1 * 1), [3, 4, 1, 1]]],
    fn: (F, [x, w, b, w1]) => [F.conv2d(x, w, b, { padding: 1, groups: 2 }), F.conv2d(x, w, undefined, { dilation: 2, padding: [2, 1], groups: 2 }), F.conv2d(x, w, b, { stride: [2, 3], groups: 2 }), F.conv2d(x, w1, undefined)] },
  { name: 'attention with scale and mask', ops: ['attention'], inputs: [[randn(2 * 2 * 3 * 4), [2, 2, 3, 4]], [randn(2 * 2 * 5 * 4), [2, 2, 5, 4]], [randn(2 * 2 * 5 * 4), [2, 2, 5, 4]], [[0, -Infinity, 0, 0, -Infinity, 0, 0, -Infinity, -Infinity, 0, 0, 0, 0, 0, 0], [3, 5]]],
    fn: (F, [q, k, v, m]) => [F.attention(q, k, v), F.attention(q, k, v, { scale: 0.3, mask: m })] },
  { name: 'interpolate in every mode', ops: ['interpolate'], inputs: [[randn(2 * 3 * 4 * 5), [2, 3, 4, 5]]],
    fn: (F, [x]) => [F.interpolate(x, [8, 7], 'bicubic'), F.interpolate(x, [3, 2], 'area'), F.interpolate(x, [7, 9], 'bilinear'), F.interpolate(x, [6, 3], 'nearest'), F.interpolate(x, [4, 5], 'bicubic')] },
];

function make(F: Engine, inputs: Input[]): Tensor[] {
  return inputs.map(([data, shape, dtype]) => F.tensor(dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data), shape, dtype ?? 'float32'));
}

function readAll(F: Engine, out: Tensor | Tensor[]): { shape: number[]; data: Float32Array }[] {
  return (Array.isArray(out) ? out : [out]).map((t) => ({ shape: [...t.shape], data: Float32Array.from(F.readSync(t)) }));
}

function expectClose(got: { shape: number[]; data: Float32Array }[], want: { shape: number[]; data: Float32Array }[], tol: number, what: string): void {
  expect(got.length, what).to.equal(want.length);
  got.forEach((g, k) => {
    expect(g.shape, `${what} output ${k} shape`).to.deep.equal(want[k].shape);
    for (let i = 0; i < g.data.length; i++) {
      const a = g.data[i], b = want[k].data[i];
      if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
      expect(Math.abs(a - b), `${what} output ${k} index ${i}: ${a} vs ${b}`).to.be.at.most(tol * (1 + Math.abs(b)));
    }
  });
}

describe('core/engine/onnx ops agree with tfjs', () => {
  let onnx: OnnxEngine;
  let tfjs: Engine;
  before(async () => {
    onnx = await OnnxEngine.create({ device: 'cpu' });
    tfjs = await TfjsEngine.create();
  });

  it('the cases cover every op of OP_NAMES', () => {
    const covered = new Set(CASES.flatMap((c) => c.ops));
    expect(OP_NAMES.filter((op) => !covered.has(op))).to.deep.equal([]);
  });

  for (const c of CASES) {
    it(`${c.name}: eager and traced onnx equal tfjs`, () => {
      const want = tfjs.tidy(() => readAll(tfjs, c.fn(tfjs, make(tfjs, c.inputs))));
      const before = onnx.liveTensors();
      const eager = onnx.tidy(() => readAll(onnx, c.fn(onnx, make(onnx, c.inputs))));
      expectClose(eager, want, 1e-5, `${c.name} (eager)`);
      const xs = make(onnx, c.inputs);
      const step = onnx.compile((...ins: Tensor[]) => c.fn(onnx, ins));
      const traced = onnx.tidy(() => readAll(onnx, step(...xs)));
      expectClose(traced, want, 1e-5, `${c.name} (traced)`);
      step.dispose();
      onnx.dispose(xs);
      expect(onnx.liveTensors(), 'tensors leaked').to.equal(before);
    });
  }
});
