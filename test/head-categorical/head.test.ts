import { expect } from 'chai';
import { Engine, HostTensor, Parameter, ReplayDraws, Rng, TfjsEngine, toFloat32 } from '@tessera/core';
import { CategoricalHead, categoricalHeadOptions, CategoricalHeadOptions } from '@tessera/head-categorical';
import { casesOfKind, firstOutOfTolerance } from './fixtures';
import { expectCode } from '../helpers';

const C = 4;
const V = 5;
const opts = (o: Partial<CategoricalHeadOptions> = {}): CategoricalHeadOptions => categoricalHeadOptions.parse({ width: C, vocab: V, ...o });

function randomWeights(head: CategoricalHead, seed: number): Map<string, number[]> {
  const rng = new Rng(seed);
  const out = new Map<string, number[]>();
  const dict = new Map<string, HostTensor>();
  for (const [key, p] of head.module.namedParameters()) {
    const data = Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => Math.fround(rng.normal() * 0.5));
    out.set(key, [...data]);
    dict.set(key, { dtype: 'float32', shape: p.shape, data });
  }
  head.module.loadStateDict(dict);
  return out;
}

/** VAR's head in double precision: head(LN(x)·(1 + s) + β), (s, β) = ada_lin(SiLU(c)). */
function handLogits(w: Map<string, number[]>, x: number[], c: number[]): number[] {
  const linear = (W: number[], b: number[], v: number[], outF: number): number[] =>
    Array.from({ length: outF }, (_, o) => b[o] + v.reduce((s, vi, i) => s + W[o * v.length + i] * vi, 0));
  const silu = c.map((v) => v / (1 + Math.exp(-v)));
  const ada = linear(w.get('head_nm.ada_lin.1.weight')!, w.get('head_nm.ada_lin.1.bias')!, silu, 2 * C);
  const mu = x.reduce((a, b) => a + b, 0) / C;
  const variance = x.reduce((a, b) => a + (b - mu) ** 2, 0) / C;
  const h = x.map((v, i) => ((v - mu) / Math.sqrt(variance + 1e-6)) * (1 + ada[i]) + ada[C + i]);
  return linear(w.get('head.weight')!, w.get('head.bias')!, h, V);
}


describe('head-categorical head', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  it('uses VAR\'s state_dict keys and shapes', () => {
    const keys = (o: Partial<CategoricalHeadOptions>): [string, readonly number[]][] =>
      new CategoricalHead(F, opts(o)).module.namedParameters().map(([k, p]) => [k, p.shape]);
    expect(keys({})).to.deep.equal([
      ['head_nm.ada_lin.1.weight', [2 * C, C]], ['head_nm.ada_lin.1.bias', [2 * C]], ['head.weight', [V, C]], ['head.bias', [V]],
    ]);
    expect(keys({ norm: 'rms' }).map(([k]) => k)).to.deep.equal(['head_nm.ada_lin.1.weight', 'head_nm.ada_lin.1.bias', 'head_nm.ln_wo_grad.weight', 'head.weight', 'head.bias']);
    expect(keys({ adaLN: false }).map(([k]) => k)).to.deep.equal(['head_nm.weight', 'head_nm.bias', 'head.weight', 'head.bias']);
  });

  it('initialises like VAR: zero biases, small head weights', () => {
    const head = new CategoricalHead(F, opts());
    head.module.initialize(new Rng(0));
    const hw = F.readSync(head.module.head.weight.value);
    expect(Math.max(...[...hw].map(Math.abs))).to.be.at.most(2 * 0.02 + 1e-7);
    expect(Math.max(...[...hw].map(Math.abs))).to.be.greaterThan(0);
    expect([...F.readSync((head.module.head.bias as Parameter).value)].every((v) => v === 0)).to.equal(true);
    const aw = F.readSync(head.module.namedParameters()[0][1].value);
    expect(Math.max(...[...aw].map(Math.abs))).to.be.at.most(2 * 0.5 + 1e-7);
    head.module.dispose();
  });

  it('computes VAR\'s logits for z [N, C] with cond [N, D] and z [B, L, C] with cond [B, D]', () => {
    const head = new CategoricalHead(F, opts());
    const w = randomWeights(head, 1);
    const rng = new Rng(2);
    const xs = Array.from({ length: 6 }, () => Array.from({ length: C }, () => rng.normal()));
    const cs = Array.from({ length: 2 }, () => Array.from({ length: C }, () => rng.normal()));
    const before = F.liveTensors();
    // [B=2, L=3, C] with one condition per batch row
    const z3 = F.tensor(Float32Array.from(xs.flat()), [2, 3, C]);
    const c2 = F.tensor(Float32Array.from(cs.flat()), [2, C]);
    const l3 = head.logits({ z: z3, cond: c2 });
    expect(l3.shape).to.deep.equal([2, 3, V]);
    const got3 = F.readSync(l3);
    // the same as rows [6, C] with the condition repeated per row
    const z2 = F.reshape(z3, [6, C]);
    const cRows = F.tensor(Float32Array.from(xs.flatMap((_, i) => cs[Math.floor(i / 3)])), [6, C]);
    const l2 = head.logits({ z: z2, cond: cRows });
    const got2 = F.readSync(l2);
    xs.forEach((x, i) => {
      const want = handLogits(w, x, cs[Math.floor(i / 3)]);
      want.forEach((v, j) => {
        expect(got3[i * V + j]).to.be.closeTo(v, 1e-4);
        expect(got2[i * V + j]).to.be.closeTo(v, 1e-4);
      });
    });
    F.dispose([z3, c2, l3, z2, cRows, l2]);
    expect(F.liveTensors()).to.equal(before);
    head.module.dispose();
  });

  it('reproduces the official logits from the last block output of var.transformer.forward cases', () => {
    const cases = casesOfKind('var.transformer.forward').filter((c) => Object.keys(c.manifest.outputs).some((k) => /^block\d+_out$/.test(k)));
    expect(cases.length).to.be.at.least(1);
    for (const c of cases) {
      const depth = c.config<number>('depth');
      const hidden = c.tensors.get(c.manifest.outputs[`block${depth - 1}_out`])!;
      const want = c.tensors.get(c.manifest.outputs.logits_BLV)!;
      const head = new CategoricalHead(F, categoricalHeadOptions.parse({ width: hidden.shape[2], vocab: want.shape[2] }));
      head.module.loadStateDict(new Map([...c.params()].filter(([k]) => k.startsWith('head_nm.') || k.startsWith('head.'))), { source: c.file });
      const z = F.fromHost(hidden);
      const cond = F.fromHost(c.tensors.get(c.manifest.outputs.cond_BD)!);
      const logits = head.logits({ z, cond });
      const { atol, rtol } = c.manifest.tolerance;
      expect(firstOutOfTolerance(F.readSync(logits), toFloat32(want), atol, rtol), c.file).to.equal(-1);
      F.dispose([z, cond, logits]);
      head.module.dispose();
    }
  });

  it('the plain and RMS variants run and need no condition (plain)', () => {
    const plain = new CategoricalHead(F, opts({ adaLN: false }));
    plain.module.initialize(new Rng(3));
    const z = F.ones([2, C]);
    const l = plain.logits({ z });
    expect(l.shape).to.deep.equal([2, V]);
    const rms = new CategoricalHead(F, opts({ norm: 'rms' }));
    rms.module.initialize(new Rng(4));
    const l2 = rms.logits({ z, cond: F.ones([2, C]) });
    expect(l2.shape).to.deep.equal([2, V]);
    F.dispose([z, l, l2]);
    plain.module.dispose();
    rms.module.dispose();
  });

  it('refuses a missing or mis-shaped condition and a wrong width', () => {
    const head = new CategoricalHead(F, opts());
    head.module.initialize(new Rng(5));
    const z = F.ones([3, C]);
    const bad = F.ones([2, C]);
    const wide = F.ones([3, C + 1]);
    expectCode(() => head.logits({ z }), 'SHAPE_MISMATCH');
    expectCode(() => head.logits({ z, cond: bad }), 'SHAPE_MISMATCH');
    expectCode(() => head.logits({ z: wide, cond: z }), 'SHAPE_MISMATCH');
    F.dispose([z, bad, wide]);
    head.module.dispose();
  });

  describe('loss', () => {
    it('is the weighted label-smoothed cross-entropy of the logits, and gradients reach every parameter', () => {
      const head = new CategoricalHead(F, opts({ labelSmoothing: 0.1 }));
      randomWeights(head, 6);
      const rng = new Rng(7);
      const z = F.tensor(Float32Array.from({ length: 4 * C }, () => rng.normal()), [4, C]);
      const cond = F.tensor(Float32Array.from({ length: 4 * C }, () => rng.normal()), [4, C]);
      const indices = F.tensor(Int32Array.from([0, 3, 4, 1]), [4], 'int32');
      const weights = F.tensor(Float32Array.from([1, 2, 0, 1]), [4]);
      const before = F.liveTensors();

      const logitsT = head.logits({ z, cond });
      const logits = F.readSync(logitsT);
      F.dispose(logitsT);
      const ce = [0, 3, 4, 1].map((t, n) => {
        const row = [...logits.slice(n * V, (n + 1) * V)];
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
        return -(0.9) * (row[t] - lse) - (0.1 / V) * row.reduce((s, v) => s + v - lse, 0);
      });
      const want = (ce[0] + 2 * ce[1] + ce[3]) / 4;

      const params = head.module.trainableParameters().map(([, p]) => p.asVariable);
      const { value, grads } = F.valueAndGrads(() => head.loss({ z, cond }, { indices }, weights), params);
      expect(F.readSync(value)[0]).to.be.closeTo(want, 1e-5);
      expect(grads).to.have.length(4);
      for (const g of grads) {
        const data = [...F.readSync(g)];
        expect(data.every(Number.isFinite)).to.equal(true);
        expect(data.some((v) => v !== 0)).to.equal(true);
      }
      // d loss / d head.bias_v = Σ_n w_n (p_nv − q_nv) / Σ w, q = (1 − ε)·onehot + ε / V
      const gBias = F.readSync(grads[3]);
      for (let v = 0; v < V; v++) {
        let s = 0;
        [0, 3, 4, 1].forEach((t, n) => {
          const w = [1, 2, 0, 1][n];
          const row = [...logits.slice(n * V, (n + 1) * V)];
          const m = Math.max(...row);
          const Z = row.reduce((a, x) => a + Math.exp(x - m), 0);
          s += w * (Math.exp(row[v] - m) / Z - (0.9 * (v === t ? 1 : 0) + 0.1 / V));
        });
        expect(gBias[v]).to.be.closeTo(s / 4, 1e-5);
      }
      F.dispose([value, ...grads]);
      expect(F.liveTensors()).to.equal(before);
      F.dispose([z, cond, indices, weights]);
      head.module.dispose();
    });

    it('refuses continuous targets', () => {
      const head = new CategoricalHead(F, opts({ adaLN: false }));
      head.module.initialize(new Rng(8));
      const z = F.ones([2, C]);
      expectCode(() => head.loss({ z }, { values: z }, undefined), 'SHAPE_MISMATCH');
      F.dispose(z);
      head.module.dispose();
    });
  });

  describe('sample', () => {
    let head: CategoricalHead;
    let z: ReturnType<Engine['tensor']>;
    let cond: ReturnType<Engine['tensor']>;
    before(() => {
      head = new CategoricalHead(F, opts());
      randomWeights(head, 9);
      const rng = new Rng(10);
      z = F.tensor(Float32Array.from({ length: 6 * C }, () => rng.normal()), [6, C]);
      cond = F.tensor(Float32Array.from({ length: 6 * C }, () => rng.normal()), [6, C]);
    });
    after(() => { F.dispose([z, cond]); head.module.dispose(); });

    it('mixes conditional and null rows with CFG and returns one token per pair (greedy)', () => {
      const before = F.liveTensors();
      const logits = head.logits({ z, cond });
      const l = F.readSync(logits);
      F.dispose(logits);
      const s = 2.5;
      const want = [0, 1, 2].map((r) => {
        const mixed = Array.from({ length: V }, (_, v) => s * l[r * V + v] - (s - 1) * l[(r + 3) * V + v]);
        return mixed.indexOf(Math.max(...mixed));
      });
      const out = head.sample({ z, cond }, { temperature: 1, cfg: s, greedy: true, draws: new ReplayDraws([]) });
      expect(out.indices!.shape).to.deep.equal([3]);
      expect(out.indices!.dtype).to.equal('int32');
      expect([...F.readSync(out.indices!)]).to.deep.equal(want);
      expect(out.values).to.equal(undefined);
      F.dispose(out.indices);
      expect(F.liveTensors()).to.equal(before);
    });

    it('without guidance every row gets a token; the draw replays the exponential race', () => {
      const q = Float32Array.from({ length: 6 * V }, (_, i) => (i % V === 2 ? 1e-6 : 1));
      const draws = new ReplayDraws([{ name: 'exp_q', tensor: { dtype: 'float32', shape: [6, V], data: q } }]);
      const out = head.sample({ z, cond }, { temperature: 1, cfg: 1, draws });
      expect([...F.readSync(out.indices!)]).to.deep.equal([2, 2, 2, 2, 2, 2]);
      expect(draws.remaining).to.equal(0);
      F.dispose(out.indices);
    });

    it('top-k 1 is greedy; smooth returns code weights [N, V] that sum to 1', () => {
      const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
      const draws = new ReplayDraws([
        { name: 'exp_q', tensor: { dtype: 'float32', shape: [3, V], data: ones(3 * V) } },
        { name: 'gumbel_exp', tensor: { dtype: 'float32', shape: [3, V], data: ones(3 * V) } },
      ]);
      const greedy = head.sample({ z, cond }, { temperature: 1, cfg: 2, greedy: true, draws: new ReplayDraws([]) });
      const out = head.sample({ z, cond }, { temperature: 1, cfg: 2, topK: 1, smooth: true, progress: 0.5, draws });
      expect([...F.readSync(out.indices!)]).to.deep.equal([...F.readSync(greedy.indices!)]);
      expect(out.values!.shape).to.deep.equal([3, V]);
      const w = F.readSync(out.values!);
      for (let r = 0; r < 3; r++) {
        const row = [...w.slice(r * V, (r + 1) * V)];
        expect(row.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-6);
        expect(row.filter((v) => v > 0)).to.have.length(1); // only the top-1 survivor
      }
      F.dispose([greedy.indices!, out.indices!, out.values!]);
    });

    it('falls back to the head\'s sampling defaults and refuses odd CFG rows', () => {
      const h = new CategoricalHead(F, opts({ topK: 1 }));
      randomWeights(h, 9);
      const ones = new Float32Array(3 * V).fill(1);
      const a = h.sample({ z, cond }, { temperature: 1, cfg: 2, draws: new ReplayDraws([{ name: 'q', tensor: { dtype: 'float32', shape: [3, V], data: ones } }]) });
      const b = head.sample({ z, cond }, { temperature: 1, cfg: 2, greedy: true, draws: new ReplayDraws([]) });
      expect([...F.readSync(a.indices!)]).to.deep.equal([...F.readSync(b.indices!)]);
      F.dispose([a.indices!, b.indices!]);
      const z5 = F.slice(z, [0, 0], [5, C]);
      const c5 = F.slice(cond, [0, 0], [5, C]);
      expectCode(() => h.sample({ z: z5, cond: c5 }, { temperature: 1, cfg: 2, draws: new ReplayDraws([]) }), 'SHAPE_MISMATCH');
      F.dispose([z5, c5]);
      h.module.dispose();
    });
  });
});
