import { expect } from 'chai';
import { DrawSource, Engine, ReplayDraws, Rng, SeededDraws, Tensor, TfjsEngine } from '@tessera/core';
import plugin, { DiffusionHead, diffusionHeadOptionsSchema, stepsForLevel } from '@tessera/head-diffusion';
import { expectCode } from '../helpers';
import { C, randomHead, tiny, Z } from './random-head';

/** Records the shape of every draw made through it. */
class CountingDraws implements DrawSource {
  readonly shapes: number[][] = [];
  private readonly inner = SeededDraws.fromSeed(3);
  normal(shape: readonly number[]): Float32Array { this.shapes.push([...shape]); return this.inner.normal(shape); }
  uniform(shape: readonly number[]): Float32Array { this.shapes.push([...shape]); return this.inner.uniform(shape); }
  integers(shape: readonly number[], low: number, high: number): Int32Array { this.shapes.push([...shape]); return this.inner.integers(shape, low, high); }
  permutation(n: number): Int32Array { return this.inner.permutation(n); }
  exponential(shape: readonly number[]): Float32Array { return this.inner.exponential(shape); }
  truncatedNormal(shape: readonly number[], m: number, s: number, l: number, h: number): Float32Array { return this.inner.truncatedNormal(shape, m, s, l, h); }
  multinomial(w: Float32Array, r: number, c: number, n: number): Int32Array { return this.inner.multinomial(w, r, c, n); }
}


const randn = (engine: Engine, shape: number[], seed: number): Tensor => engine.tensor(SeededDraws.fromSeed(seed).normal(shape), shape);

describe('head-diffusion head', () => {
  let engine: Engine;
  before(async () => {
    engine = await TfjsEngine.create();
  });

  describe('options and capabilities', () => {
    it('defaults to MAR-B\'s DiffLoss and HART\'s settings in residual mode', () => {
      const mar = diffusionHeadOptionsSchema.parse({});
      expect(mar).to.include({ tokenDim: 16, width: 1024, depth: 3, numSamplingSteps: '100', trainingSteps: 1000, noiseSchedule: 'cosine', learnSigma: true, batchMultiplier: 4, clipDenoised: false, guidanceFormula: 'uncond-plus-scaled-difference' });
      expect(mar.frequencyAwareSteps).to.equal(null);
      const hart = diffusionHeadOptionsSchema.parse({ mode: 'residual' });
      expect(hart).to.include({ numSamplingSteps: '8', clipDenoised: true, guidanceFormula: 'cond-plus-scaled-difference', residualScale: 0.6 });
    });

    it('rejects unknown keys', () => {
      expect(diffusionHeadOptionsSchema.safeParse({ diffusionBatchMul: 4 }).success).to.equal(false);
    });

    it('needs continuous tokens, or the residual in residual mode', () => {
      const token = plugin.capabilities(diffusionHeadOptionsSchema.parse({}));
      expect(token.requires).to.have.length(1);
      expect(token.requires[0]).to.include({ slot: 'tokenizer', need: 'continuous targets' });
      expect(token.requires[0].anyOf).to.deep.equal(['continuous']);
      const residual = plugin.capabilities(diffusionHeadOptionsSchema.parse({ mode: 'residual' }));
      expect(residual.requires[0].anyOf).to.deep.equal(['residual']);
    });

    it('names parameters as the official DiffLoss state_dict', () => {
      const head = new DiffusionHead(engine, diffusionHeadOptionsSchema.parse({ ...tiny, levelConditioning: true }));
      const keys = head.module.namedParameters().map(([k]) => k);
      expect(keys).to.include.members([
        'net.time_embed.mlp.0.weight', 'net.time_embed.mlp.2.bias', 'net.cond_embed.weight', 'net.index_cond_embed.weight', 'net.input_proj.bias',
        'net.res_blocks.0.in_ln.weight', 'net.res_blocks.0.mlp.0.weight', 'net.res_blocks.0.adaLN_modulation.1.weight',
        'net.final_layer.linear.weight', 'net.final_layer.adaLN_modulation.1.bias',
      ]);
      const finalW = head.module.namedParameters().find(([k]) => k === 'net.final_layer.linear.weight')?.[1];
      expect(finalW?.shape).to.deep.equal([2 * C, 16]);
    });
  });

  describe('loss', () => {
    it('decreases under a few SGD steps (same t and noise each step)', () => {
      const head = new DiffusionHead(engine, diffusionHeadOptionsSchema.parse({ ...tiny, batchMultiplier: 2 }));
      head.module.initialize(new Rng(7));
      const x = randn(engine, [6, C], 11);
      const z = randn(engine, [6, Z], 12);
      const params = head.module.trainableParameters().map(([, p]) => p);
      const lossAt = (): Tensor => head.loss({ z }, { values: x }, undefined, SeededDraws.fromSeed(5));
      const first = engine.readSync(lossAt())[0];
      const before = engine.liveTensors();
      for (let step = 0; step < 15; step++) {
        const { value, grads } = engine.valueAndGrads(lossAt, params.map((p) => p.asVariable));
        params.forEach((p, i) => p.set(engine.tidy(() => engine.sub(p.value, engine.mul(grads[i], 0.05)))));
        engine.dispose([value, ...grads]);
      }
      expect(engine.liveTensors()).to.equal(before);
      const last = engine.tidy(() => engine.readSync(lossAt())[0]);
      expect(last).to.be.below(first);
      engine.dispose([x, z]);
      head.module.dispose();
    });

    it('repeats rows batchMultiplier times and draws t then ε for all of them', () => {
      const head = randomHead(engine, { batchMultiplier: 3 });
      const draws = new CountingDraws();
      const x = randn(engine, [5, C], 1);
      const z = randn(engine, [5, Z], 2);
      const loss = head.loss({ z }, { values: x }, undefined, draws);
      expect(loss.shape).to.deep.equal([]);
      expect(draws.shapes).to.deep.equal([[15], [15, C]]);
      engine.dispose([loss, x, z]);
      head.module.dispose();
    });

    it('weights rows: zero-weight rows do not count', () => {
      const head = randomHead(engine);
      const x = randn(engine, [4, C], 1);
      const z = randn(engine, [4, Z], 2);
      const w = engine.tensor(Float32Array.from([1, 1, 0, 0]), [4]);
      const x2 = engine.slice(x, [0, 0], [2, -1]);
      const z2 = engine.slice(z, [0, 0], [2, -1]);
      // Same draws for the kept rows: t and ε of rows 0..1 are the first entries of each draw.
      const full = new SeededDraws(new Rng(9));
      const t = full.integers([4], 0, 1000);
      const eps = full.normal([4, C]);
      const replay = (rows: number): DrawSource => new ReplayDraws([
        { name: 't', tensor: { dtype: 'int32', shape: [rows], data: t.slice(0, rows) } },
        { name: 'eps', tensor: { dtype: 'float32', shape: [rows, C], data: eps.slice(0, rows * C) } },
      ]);
      const weighted = engine.readSync(head.loss({ z }, { values: x }, w, replay(4)))[0];
      const kept = engine.readSync(head.loss({ z: z2 }, { values: x2 }, undefined, replay(2)))[0];
      expect(weighted).to.be.closeTo(kept, 1e-5 * Math.abs(kept) + 1e-6);
      engine.dispose([x, z, w, x2, z2]);
      head.module.dispose();
    });

    it('a level-conditioned head refuses rows without a level', () => {
      const head = randomHead(engine, { levelConditioning: true });
      const x = randn(engine, [2, C], 1);
      const z = randn(engine, [2, Z], 2);
      expectCode(() => head.loss({ z }, { values: x }, undefined, new CountingDraws()), 'CONFIG_INVALID');
      expectCode(() => head.sample({ z }, { temperature: 1, cfg: 1, draws: new CountingDraws() }), 'CONFIG_INVALID');
      engine.dispose([x, z]);
      head.module.dispose();
    });

    it('refuses discrete targets', () => {
      const head = randomHead(engine);
      const z = randn(engine, [2, Z], 2);
      expectCode(() => head.loss({ z }, { indices: engine.tensor(Int32Array.from([1, 2]), [2], 'int32') }, undefined, new CountingDraws()), 'PLUGIN_INCOMPATIBLE');
      head.module.dispose();
      engine.dispose(z);
    });
  });

  describe('sampling', () => {
    it('runs the plain loop at cfg 1: N rows in and out, N-row noise, 1 + S draws', () => {
      const head = randomHead(engine);
      const z = randn(engine, [4, Z], 3);
      const draws = new CountingDraws();
      const before = engine.liveTensors();
      const { values } = head.sample({ z }, { temperature: 1, cfg: 1, draws });
      expect(values?.shape).to.deep.equal([4, C]);
      expect(draws.shapes).to.deep.equal([[4, C], [4, C], [4, C], [4, C]]);
      engine.dispose(values);
      expect(engine.liveTensors()).to.equal(before);
      head.module.dispose();
      engine.dispose(z);
    });

    it('mixes conditional and unconditional rows only when cfg != 1', () => {
      const head = randomHead(engine);
      const zCond = randn(engine, [2, Z], 3);
      const zBoth = engine.concat([zCond, randn(engine, [2, Z], 4)], 0);
      const drawsA = new CountingDraws();
      const guided = head.sample({ z: zBoth }, { temperature: 1, cfg: 3, draws: drawsA });
      expect(guided.values?.shape).to.deep.equal([2, C]);
      expect(drawsA.shapes[0]).to.deep.equal([2, C]); // x_T drawn for half the rows, then duplicated
      expect(drawsA.shapes.slice(1)).to.deep.equal([[4, C], [4, C], [4, C]]);
      // With the same noise, guidance changes the conditional rows.
      const unguidedNet = engine.tidy(() => head.net.forward(engine.zeros([2, C]), [999, 999], zCond));
      const guidedNet = engine.tidy(() => head.net.forwardWithCfg(engine.zeros([4, C]), [999, 999, 999, 999], zBoth, 3, 'uncond-plus-scaled-difference'));
      const unitNet = engine.tidy(() => head.net.forwardWithCfg(engine.zeros([4, C]), [999, 999, 999, 999], zBoth, 1, 'uncond-plus-scaled-difference'));
      const a = engine.readSync(unguidedNet);
      const g = engine.readSync(guidedNet);
      const u = engine.readSync(unitNet);
      let maxDiff = 0;
      let unitDiff = 0;
      for (let i = 0; i < C; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(a[i] - g[i]));
        unitDiff = Math.max(unitDiff, Math.abs(a[i] - u[i]));
      }
      expect(maxDiff).to.be.above(1e-3);
      expect(unitDiff).to.be.below(1e-5);
      engine.dispose([zCond, zBoth, unguidedNet, guidedNet, unitNet, guided.values as Tensor]);
      head.module.dispose();
    });

    it('FAR\'s alwaysGuided halves the rows even at cfg 1', () => {
      const head = randomHead(engine, { alwaysGuided: true, levelConditioning: true });
      const z = randn(engine, [4, Z], 3);
      const level = engine.tensor(Int32Array.from([2, 2, 2, 2]), [4], 'int32');
      const draws = new CountingDraws();
      const { values } = head.sample({ z, level }, { temperature: 1, cfg: 1, draws });
      expect(values?.shape).to.deep.equal([2, C]);
      expect(draws.shapes[0]).to.deep.equal([2, C]);
      engine.dispose([z, level, values as Tensor]);
      head.module.dispose();
    });

    it('frequency-aware steps shift the step count with the level (off by default)', () => {
      const schedule = { levels: 5, lowestLevelSteps: 2, highestLevelSteps: 6 };
      expect([0, 1, 2, 3, 4, 9].map((k) => stepsForLevel(schedule, k))).to.deep.equal(['2', '3', '4', '5', '6', '6']);
      const head = randomHead(engine, { frequencyAwareSteps: schedule, levelConditioning: true });
      const z = randn(engine, [2, Z], 3);
      const level = engine.tensor(Int32Array.from([0, 0]), [2], 'int32');
      const draws = new CountingDraws();
      const { values } = head.sample({ z, level }, { temperature: 1, cfg: 1, draws, diffusionSteps: '100' });
      expect(draws.shapes).to.have.length(1 + 2);
      engine.dispose([z, level, values as Tensor]);
      head.module.dispose();
    });

    it('residual mode scales samples by residualScale and keeps x̂0 in [−1, 1]', () => {
      const head = randomHead(engine, { mode: 'residual', numSamplingSteps: '4' });
      const z = randn(engine, [3, Z], 3);
      const { values } = head.sample({ z }, { temperature: 1, cfg: 1, draws: new CountingDraws() });
      const v = engine.readSync(values as Tensor);
      for (const x of v) expect(Math.abs(x)).to.be.at.most(0.6 + 1e-6);
      engine.dispose([z, values as Tensor]);
      head.module.dispose();
    });

    it('DDIM is deterministic given x_T', () => {
      const head = randomHead(engine, { sampler: 'ddim', numSamplingSteps: 'ddim4' });
      const z = randn(engine, [2, Z], 3);
      const a = head.sample({ z }, { temperature: 1, cfg: 1, draws: SeededDraws.fromSeed(1) }).values as Tensor;
      const b = head.sample({ z }, { temperature: 0.5, cfg: 1, draws: SeededDraws.fromSeed(1) }).values as Tensor;
      expect(Array.from(engine.readSync(a))).to.deep.equal(Array.from(engine.readSync(b)));
      engine.dispose([z, a, b]);
      head.module.dispose();
    });
  });
});
