/**
 * Direction `raster` on tiny generators built from JSON configs: discrete (single-scale
 * msvq + categorical) and continuous (vae + diffusion) sampling end to end through the
 * core Sampler, KV-cached sampling agreeing with the causal teacher-forced forward, and
 * the refusal of multi-scale token maps.
 */
import { expect } from 'chai';
import { DiscreteTokens, Engine, Generator, HeadInput, isTesseraError, OnnxEngine, parseSettings, Sampler, SeededDraws, Tensor, TfjsEngine } from '@tessera/core';
import plugin, { RasterDirection } from '@tessera/direction-raster';
import { adaln, buildTiny, categorical, diffusion, disposeGenerator, msvq, vae } from '../direction-scale/tiny';

// A one-token start plus 16 raster positions fit the adaln sequence of scales [1, 4] (17 positions).
const tinyRaster = { name: 'tiny-raster', tokenizer: msvq([4]), direction: { use: 'raster', options: {} }, head: categorical(), backbone: adaln([1, 4], 8) };

describe('direction-raster', () => {
  let F: Engine;
  let g: Generator;

  before(async () => {
    F = await TfjsEngine.create();
    g = buildTiny(F, tinyRaster, 5);
  });
  after(() => disposeGenerator(g));

  it('samples a discrete image token by token through the Sampler', () => {
    const before = F.liveTensors();
    const steps: string[] = [];
    const { images, tokens } = new Sampler(g).sample({ labels: [1, null], settings: { cfg: 2, topK: 8 }, seed: 3, onStep: (p) => steps.push(p.step.label) });
    expect(images.shape).to.deep.equal([2, 3, 8, 8]);
    expect(steps).to.have.length(16);
    expect(steps[5]).to.equal('token 5 (row 1, column 1)');
    const t = tokens as DiscreteTokens;
    expect(t.indices.map((x) => x.shape)).to.deep.equal([[2, 16]]);
    F.dispose([images, ...t.indices]);
    expect(F.liveTensors()).to.equal(before);
  });

  it('greedy KV-cached sampling picks the argmax of the causal teacher-forced logits of its own tokens', () => {
    const direction = g.direction as RasterDirection;
    const ctx = {
      tokenizer: g.tokenizer, backbone: g.backbone, head: g.head, draws: SeededDraws.fromSeed(0), settings: parseSettings({ cfg: 1, greedy: true }),
      labels: F.tensor(Int32Array.of(2, 7), [2], 'int32'), nullLabels: F.full([2], 10, 'int32'),
    };
    let state = direction.init(ctx);
    while (!state.done) state = direction.step(state, ctx);
    const tokens = direction.finalTokens(state, ctx) as DiscreteTokens;
    direction.dispose(state);
    const ex = direction.trainingExample(tokens, g.tokenizer, ctx.draws);
    expect(ex.inputs.shape).to.deep.equal([2, 15, 8]);
    expect(ex.attention).to.deep.equal({ kind: 'causal' });
    const argmax = F.tidy(() => {
      const out = g.backbone.forward({ inputs: ex.inputs, labels: ctx.labels, attention: ex.attention, levels: ex.levels });
      return F.argmax((g.head as unknown as { logits(i: HeadInput): Tensor }).logits({ z: out.hidden, cond: out.cond }), -1);
    });
    expect(Array.from(F.readSync(argmax))).to.deep.equal(Array.from(F.readSync(tokens.indices[0])));
    F.dispose([argmax, ctx.labels, ctx.nullLabels, ex.inputs, ex.levels as Tensor, ex.target.indices as Tensor, ...tokens.indices]);
  });

  it('on the onnx engine: one compiled graph for every one-token step (fixed-capacity KV cache), the same tokens as tfjs', async () => {
    const O = await OnnxEngine.create({ device: 'cpu' });
    const compiled: string[] = [];
    const compile = O.compile.bind(O);
    O.compile = ((fn: Parameters<typeof compile>[0], o: Parameters<typeof compile>[1]) => { compiled.push(o?.name ?? ''); return compile(fn, o); }) as typeof O.compile;
    const onnx = buildTiny(O, tinyRaster, 5);
    const sample = (E: Engine, gen: Generator): number[] => {
      const { images, tokens } = new Sampler(gen).sample({ labels: [1, null, 3], settings: { cfg: 2, topK: 8 }, seed: 4 });
      const ids = Array.from(E.readSync((tokens as DiscreteTokens).indices[0]));
      E.dispose([images, ...(tokens as DiscreteTokens).indices]);
      return ids;
    };
    const before = O.liveTensors();
    expect(sample(O, onnx)).to.deep.equal(sample(F, g));
    expect(O.liveTensors()).to.equal(before);
    // The start call, then all 15 one-token steps in one graph (instead of one graph per cache length).
    expect(compiled.filter((n) => n === 'adaln_step')).to.have.length(1);
    expect(compiled.filter((n) => n === 'adaln_fixed_step')).to.have.length(1);
    disposeGenerator(onnx);
  });

  it('samples continuous tokens with a diffusion head', () => {
    const c = buildTiny(F, { name: 'tiny-raster-continuous', tokenizer: vae(), direction: { use: 'raster', options: {} }, head: diffusion(), backbone: adaln([1, 4], 4) }, 6);
    try {
      const before = F.liveTensors();
      const { images, tokens } = new Sampler(c).sample({ labels: [4], settings: { cfg: 1.5 }, seed: 1 });
      expect(images.shape).to.deep.equal([1, 3, 8, 8]);
      expect(tokens.kind === 'continuous' && tokens.latent.shape).to.deep.equal([1, 4, 4, 4]);
      F.dispose([images, ...(tokens.kind === 'continuous' ? [tokens.latent] : [])]);
      expect(F.liveTensors()).to.equal(before);
    } finally {
      disposeGenerator(c);
    }
  });

  it('refuses a multi-scale token list and unknown options', () => {
    expect(plugin.options.safeParse({ order: 'zigzag' }).success).to.equal(false);
    const m = buildTiny(F, { ...tinyRaster, tokenizer: msvq([1, 2, 4]) }, 1);
    try {
      m.direction.schedule(m.tokenizer);
      expect.fail('expected PLUGIN_INCOMPATIBLE');
    } catch (e) {
      expect(isTesseraError(e) && e.code).to.equal('PLUGIN_INCOMPATIBLE');
    } finally {
      disposeGenerator(m);
    }
  });
});
