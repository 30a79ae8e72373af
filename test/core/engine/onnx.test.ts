/**
 * The onnx engine's own behaviour: tracing a Module's forward equals running it eagerly,
 * one session per input-shape signature, stale sessions traced again after weights
 * change, an AR step with its KV cache as graph inputs and outputs, memory semantics
 * equal to tfjs's, inference-only errors, and the throughput of a traced 1024² matmul
 * (printed, never asserted: speed is measured by benchmarks).
 */
import { expect } from 'chai';
import { compileIfSupported, Conv2d, Engine, GroupNorm, isTesseraError, LayerNorm, Linear, Module, OnnxEngine, onnxBackends, Rng, Tensor, TfjsEngine } from '@tessera/core';

/** A small module using several layer kinds, as model code does. */
class TinyNet extends Module {
  readonly conv: Conv2d;
  readonly norm: GroupNorm;
  readonly proj: Linear;
  readonly ln: LayerNorm;

  constructor(F: Engine) {
    super(F);
    this.conv = this.child('conv', new Conv2d(F, 3, 8, 3, { padding: 1 }));
    this.norm = this.child('norm', new GroupNorm(F, 2, 8));
    this.proj = this.child('proj', new Linear(F, 8, 16));
    this.ln = this.child('ln', new LayerNorm(F, 16));
  }

  forward(x_BCHW: Tensor): Tensor {
    const F = this.F;
    const h = F.silu(this.norm.forward(this.conv.forward(x_BCHW)));
    const [B, C, H, W] = h.shape;
    const t_BLC = F.transpose(F.reshape(h, [B, C, H * W]), [0, 2, 1]); // (B, HW, C)
    const y = this.ln.forward(F.gelu(this.proj.forward(t_BLC)));
    return F.softmax(F.mul(y, 0.5), -1);
  }
}

const randn = (rng: Rng, n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('core/engine/onnx', () => {
  let F: OnnxEngine;
  before(async () => {
    F = await OnnxEngine.create({ device: 'cpu' });
  });

  it('reports itself as an inference engine on cpu', () => {
    expect(F.info).to.deep.equal({ name: 'onnx', backend: 'cpu', differentiable: false });
  });

  it('traces a Module forward to a graph that equals eager execution', () => {
    const net = new TinyNet(F);
    net.initialize(new Rng(5));
    const x = F.tensor(randn(new Rng(6), 2 * 3 * 5 * 4), [2, 3, 5, 4]);
    const eager = F.tidy(() => F.readSync(net.forward(x)));
    const forward = F.compile((input: Tensor) => net.forward(input));
    const y = forward(x);
    expect(y.shape).to.deep.equal([2, 20, 16]);
    expect(maxDiff(F.readSync(y), eager)).to.be.lessThan(1e-5);
    F.dispose([x, y]);
    forward.dispose();
  });

  it('keeps one session per input-shape signature', () => {
    const w = F.tensor(randn(new Rng(1), 4 * 6), [4, 6]);
    const f = F.compile((x: Tensor) => F.relu(F.matmul(x, w)));
    const run = (rows: number): void => {
      const x = F.ones([rows, 4]);
      F.dispose([f(x), x]);
    };
    const before = F.liveTensors();
    const xs = [F.ones([2, 4]), F.ones([3, 4])];
    F.dispose([f(xs[0]), f(xs[0]), f(xs[1])]);
    expect([f.sessions, f.traces]).to.deep.equal([2, 2]);
    run(2);
    expect([f.sessions, f.traces]).to.deep.equal([2, 2]);
    F.dispose(xs);
    expect(F.liveTensors()).to.equal(before);
    f.dispose();
    F.dispose(w);
  });

  it('traces again when a captured weight was replaced, in embed, feed and auto modes', () => {
    for (const weights of ['embed', 'feed', 'auto'] as const) {
      const lin = new Linear(F, 3, 2, false);
      lin.weight.set(F.tensor(new Float32Array([1, 0, 0, 0, 1, 0]), [2, 3]));
      const f = F.compile((x: Tensor) => lin.forward(x), { weights });
      const x = F.tensor(new Float32Array([1, 2, 3]), [1, 3]);
      const y1 = f(x);
      expect([...F.readSync(y1)]).to.deep.equal([1, 2]);
      lin.weight.set(F.tensor(new Float32Array([0, 0, 1, 1, 1, 1]), [2, 3]));
      const y2 = f(x);
      expect([...F.readSync(y2)], weights).to.deep.equal([3, 6]);
      expect(f.traces, weights).to.equal(2);
      F.dispose([x, y1, y2]);
      f.dispose();
      lin.weight.dispose();
    }
  });

  it("weights 'auto': embedded while the engine's budget allows, fed beyond it, budget returned on dispose", async () => {
    const E = await OnnxEngine.create({ device: 'cpu', embedBudgetBytes: 150 });
    const w = E.tensor(randn(new Rng(2), 4 * 6), [4, 6]); // 96 bytes
    const fn = (x: Tensor): Tensor => E.relu(E.matmul(x, w));
    const spec = [{ shape: [2, 4], dtype: 'float32' }];
    const fed = (E.trace(fn, spec, { weights: 'feed' })).model.byteLength;
    const first = E.trace(fn, spec, { weights: 'auto' });
    const second = E.trace(fn, spec, { weights: 'auto' }); // 192 bytes would exceed 150
    expect(first.model.byteLength - fed).to.be.above(64); // 96 bytes of weights in, one input description out
    expect(second.model.byteLength).to.equal(fed);
    first.dispose();
    const third = E.trace(fn, spec, { weights: 'auto' });
    expect(third.model.byteLength).to.equal(first.model.byteLength);
    // Same results either way.
    const x = E.tensor(randn(new Rng(3), 8), [2, 4]);
    const runs = [second, third].map((g) => Array.from(g.run([{ shape: [2, 4], dtype: 'float32', data: E.readSync(x) }])[0] as Float32Array));
    expect(runs[0]).to.deep.equal(runs[1]);
    [second, third].forEach((g) => g.dispose());
    E.dispose([w, x]);
  });

  it('compiles an AR step with its KV cache as inputs and outputs (object and array outputs)', () => {
    const D = 4;
    const rng = new Rng(9);
    const wq = F.tensor(randn(rng, D * D), [D, D]), wk = F.tensor(randn(rng, D * D), [D, D]), wv = F.tensor(randn(rng, D * D), [D, D]);
    const stepFn = (x_B1D: Tensor, k_BLD: Tensor, v_BLD: Tensor): { y: Tensor; cache: Tensor[] } => {
      const k = F.concat([k_BLD, F.linear(x_B1D, wk)], 1);
      const v = F.concat([v_BLD, F.linear(x_B1D, wv)], 1);
      const q = F.linear(x_B1D, wq);
      const y = F.squeeze(F.attention(F.expandDims(q, 1), F.expandDims(k, 1), F.expandDims(v, 1)), [1]);
      return { y, cache: [k, v] };
    };
    const step = F.compile(stepFn, { weights: 'feed' });
    let k = F.zeros([1, 0, D]), v = F.zeros([1, 0, D]);
    let kE = F.zeros([1, 0, D]), vE = F.zeros([1, 0, D]);
    for (let t = 0; t < 4; t++) {
      const x = F.tensor(randn(rng, D), [1, 1, D]);
      const out = step(x, k, v);
      const ref = F.tidy(() => stepFn(x, kE, vE));
      expect(maxDiff(F.readSync(out.y), F.readSync(ref.y))).to.be.lessThan(1e-5);
      expect(out.cache[0].shape).to.deep.equal([1, t + 1, D]);
      F.dispose([x, k, v, kE, vE, out.y, ref.y]);
      [k, v] = out.cache;
      [kE, vE] = ref.cache;
    }
    expect(step.sessions).to.equal(4);
    F.dispose([k, v, kE, vE, wq, wk, wv]);
    step.dispose();
  });

  it('inlines a compiled function called inside another trace; compileIfSupported runs eagerly on tfjs', async () => {
    const inner = F.compile((x: Tensor) => F.mul(x, 2));
    const outer = F.compile((x: Tensor) => F.add(inner(x), 1));
    const x = F.ones([3]);
    const y = outer(x);
    expect([...F.readSync(y)]).to.deep.equal([3, 3, 3]);
    expect([inner.traces, outer.traces]).to.deep.equal([0, 1]);
    F.dispose([x, y]);
    inner.dispose();
    outer.dispose();
    const tf = await TfjsEngine.create();
    const f = compileIfSupported(tf, (a: Tensor) => tf.add(a, 1));
    const t = tf.ones([2]);
    expect([...tf.readSync(tf.tidy(() => f(t)))]).to.deep.equal([2, 2]);
    expect(f.sessions).to.equal(0);
    tf.dispose(t);
  });

  it('exports a traced graph as ONNX bytes', () => {
    const graph = F.trace((x: Tensor) => F.gelu(F.add(x, 1)), [{ shape: [2, 3], dtype: 'float32' }]);
    expect(graph.model.length).to.be.greaterThan(50);
    const [y] = graph.run([{ shape: [2, 3], dtype: 'float32', data: new Float32Array(6) }]);
    expect(y[0]).to.be.closeTo(0.8413447, 1e-6);
    graph.dispose();
  });

  it('refuses to read a traced tensor, and to differentiate', () => {
    const f = F.compile((x: Tensor) => F.mul(x, F.readSync(F.sum(x))[0]));
    const x = F.ones([2]);
    expect(() => f(x)).to.throw().that.satisfies((e: unknown) => isTesseraError(e, 'OP_UNSUPPORTED'));
    expect(() => F.valueAndGrads(() => F.sum(x), [])).to.throw().that.satisfies((e: unknown) => isTesseraError(e, 'ENGINE_UNAVAILABLE'));
    F.dispose(x);
  });

  it('picks cuda only where onnxruntime bundles it', async () => {
    const cuda = onnxBackends().some((b) => b.name === 'cuda' && b.bundled);
    if (cuda) {
      expect((await OnnxEngine.create({ device: 'auto' })).info.backend).to.equal('cuda');
      return;
    }
    expect((await OnnxEngine.create({ device: 'auto' })).info.backend).to.equal('cpu');
    let err: unknown;
    await OnnxEngine.create({ device: 'cuda' }).catch((e) => (err = e));
    expect(isTesseraError(err, 'ENGINE_UNAVAILABLE')).to.equal(true);
  });

  it('frees tensors as tfjs does: tidy returns survive, keep survives, dispose is idempotent, variables count', () => {
    const before = F.liveTensors();
    let kept: Tensor | undefined;
    const out = F.tidy(() => {
      const a = F.ones([3]);
      kept = F.keep(F.add(a, 1));
      const inner = F.tidy(() => [F.mul(a, 2), F.sub(a, 1)]);
      return { sum: F.add(inner[0], inner[1]), parts: inner };
    });
    expect(F.liveTensors() - before).to.equal(4); // sum, two parts, kept
    const v = F.variable(out.sum, 'v');
    F.dispose([out.sum, out.sum, ...out.parts, kept as Tensor]);
    expect(F.liveTensors() - before).to.equal(1);
    expect([...F.readSync(v.value)]).to.deep.equal([2, 2, 2]);
    const z = F.zeros([3]);
    v.assign(z);
    expect(F.liveTensors() - before).to.equal(2); // the variable's new value and `z`
    F.dispose([z, v.value]);
    expect(F.liveTensors()).to.equal(before);
  });

  it('runs a 1024x1024 matmul in a traced graph (GFLOP/s printed, not asserted)', function () {
    this.timeout(60000);
    const N = 1024;
    const rng = new Rng(2);
    const w = F.tensor(randn(rng, N * N), [N, N]);
    const x = F.tensor(randn(rng, N * N), [N, N]);
    const f = F.compile((a: Tensor) => F.matmul(a, w));
    F.dispose(f(x)); // trace, session and warm-up
    const reps = 5;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) F.dispose(f(x));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9 / reps;
    console.log(`      onnx traced matmul ${N}x${N}: ${((2 * N ** 3) / seconds / 1e9).toFixed(1)} GFLOP/s`);
    F.dispose([w, x]);
    f.dispose();
  });
});
