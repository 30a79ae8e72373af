/** The `vae` tokenizer and plugin (packages/tokenizer-vae/src/tokenizer.ts, index.ts, options.ts). */
import { expect } from 'chai';
import { container as rootContainer } from 'tsyringe';
import { type Engine, ENGINE, Rng, SeededDraws, TfjsEngine, TOKENIZER, type Tensor, type Tokenizer } from '@tessera/core';
import vaePlugin, { plugin, VaeTokenizer, vaeOptionsSchema } from '@tessera/tokenizer-vae';
import { expectCode as expectError } from '../helpers';

const tinyOptions = { embedDim: 4, baseChannels: 32, channelMultipliers: [1, 2], resBlocksPerLevel: 1, resolution: 8, encoderAttentionResolutions: [4] };


describe('tokenizer-vae tokenizer', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  const images = (B: number, seed: number, hw = 8): Tensor => F.tensor(SeededDraws.fromSeed(seed).uniform([B, 3, hw, hw]).map((v) => 2 * v - 1), [B, 3, hw, hw]);
  const maxAbs = (a: Tensor, b: Tensor): number => F.tidy(() => F.readSync(F.max(F.abs(F.sub(a, b))))[0]);

  it('has official defaults and a strict option schema', () => {
    const o = vaeOptionsSchema.parse({});
    expect(o).to.include({ embedDim: 16, baseChannels: 128, resBlocksPerLevel: 2, resolution: 256, scaleFactor: 0.2325, sampleLatents: true, variational: true });
    expect(o.channelMultipliers).to.deep.equal([1, 1, 2, 2, 4]);
    expect(o.encoderAttentionResolutions).to.deep.equal([16]);
    expect(o.decoderAttentionResolutions).to.deep.equal([]);
    expect(vaeOptionsSchema.safeParse({ embed_dim: 16 }).success).to.equal(false);
    expect(vaePlugin).to.equal(plugin);
    expect(plugin).to.include({ name: 'vae', kind: 'tokenizer' });
    expect(plugin.capabilities(o).provides).to.have.members(['continuous', 'pyramid']);
    expect(plugin.parity.map((h) => h.kind)).to.have.members(['mar.vae.encode', 'mar.vae.decode']);
  });

  it('registers a cached VaeTokenizer under TOKENIZER with a 16x16 continuous space by default', () => {
    const c = rootContainer.createChildContainer();
    c.register(ENGINE, { useValue: F });
    plugin.register(c, plugin.options.parse({}));
    const t = c.resolve<Tokenizer>(TOKENIZER);
    expect(t).to.be.instanceOf(VaeTokenizer);
    expect(c.resolve(TOKENIZER)).to.equal(t);
    expect(t.space).to.deep.equal({ kind: 'continuous', channels: 16, grid: [16, 16] });
    expect(t.resolution).to.deep.equal([256, 256]);
    expect(t.pyramid).to.not.equal(undefined);
  });

  it('multiplies posterior samples by scaleFactor on encode and divides on decode', () => {
    const t = new VaeTokenizer(F, vaeOptionsSchema.parse(tinyOptions));
    t.module.initialize(new Rng(1));
    const x = images(2, 2);
    const { latent } = t.encode(x, SeededDraws.fromSeed(3));
    const errs = F.tidy(() => {
      const post = t.module.encode(x);
      const sample = post.sample(SeededDraws.fromSeed(3));
      const fromSample = maxAbs(latent, F.mul(sample, 0.2325));
      const decoded = maxAbs(t.decode({ kind: 'continuous', latent }), t.module.decode(F.div(latent, 0.2325)));
      return [fromSample, decoded];
    });
    expect(latent.shape).to.deep.equal([2, 4, 4, 4]);
    expect(errs[0]).to.equal(0);
    expect(errs[1]).to.equal(0);
    F.dispose([x, latent]);
    t.module.dispose();
  });

  it('encodes to the scaled posterior mean with sampleLatents false, and needs draws otherwise', () => {
    const t = new VaeTokenizer(F, vaeOptionsSchema.parse({ ...tinyOptions, sampleLatents: false, scaleFactor: 0.5 }));
    t.module.initialize(new Rng(4));
    const x = images(1, 5);
    const { latent } = t.encode(x);
    const err = F.tidy(() => maxAbs(latent, F.mul(t.module.encode(x).mean, 0.5)));
    expect(err).to.equal(0);
    const sampling = new VaeTokenizer(F, vaeOptionsSchema.parse(tinyOptions));
    expect(expectError(() => sampling.encode(x), 'USAGE').data).to.include({ option: 'sampleLatents' });
    F.dispose([x, latent]);
    t.module.dispose();
  });

  it('rejects bad images, discrete tokens and wrong latent widths', () => {
    const t = new VaeTokenizer(F, vaeOptionsSchema.parse({ ...tinyOptions, sampleLatents: false }));
    const odd = F.zeros([1, 3, 5, 8]);
    expect(expectError(() => t.encode(odd), 'SHAPE_MISMATCH').data).to.include({ stride: 2 });
    expect(expectError(() => t.decode({ kind: 'discrete', indices: [] }), 'PLUGIN_INCOMPATIBLE').data).to.include({ got: 'discrete' });
    const wide = F.zeros([1, 5, 4, 4]);
    expect(expectError(() => t.decode({ kind: 'continuous', latent: wide }), 'SHAPE_MISMATCH').data).to.include({ expected: 4, got: 5 });
    expectError(() => new VaeTokenizer(F, vaeOptionsSchema.parse({ ...tinyOptions, resolution: 9 })), 'CONFIG_INVALID');
    F.dispose([odd, wide]);
  });

  it('offers a latent pyramid: area average down, bicubic up', () => {
    const t = new VaeTokenizer(F, vaeOptionsSchema.parse(tinyOptions));
    const pyramid = t.pyramid;
    const z = F.tensor(SeededDraws.fromSeed(7).normal([2, 4, 4, 4]), [2, 4, 4, 4]);
    const [downShape, upShape, meanErr, upErr] = F.tidy(() => {
      const down = pyramid.down(z, [1, 1]);
      const up = pyramid.up(down, [4, 4]);
      return [down.shape, up.shape, maxAbs(down, F.mean(z, [2, 3], true)), maxAbs(up, F.interpolate(down, [4, 4], 'bicubic'))];
    });
    expect(downShape).to.deep.equal([2, 4, 1, 1]);
    expect(upShape).to.deep.equal([2, 4, 4, 4]);
    expect(meanErr).to.be.below(1e-6);
    expect(upErr).to.equal(0);
    F.dispose(z);
  });

  it('lowers its training loss (L1 + L2 + KL) over a few SGD steps on a tiny batch, without leaks', () => {
    const t = new VaeTokenizer(F, vaeOptionsSchema.parse({ ...tinyOptions, l2Weight: 0.5, klWeight: 1e-3 }));
    t.module.initialize(new Rng(8));
    const x = images(2, 9);
    const vars = t.module.trainableParameters().map(([, p]) => p.asVariable);
    const before = F.liveTensors();
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) {
      // The same noise each step, so the loss changes only through the weights.
      const draws = SeededDraws.fromSeed(10);
      const { value, grads } = F.valueAndGrads(() => t.trainingLoss(x, draws).loss, vars);
      losses.push(F.readSync(value)[0]);
      vars.forEach((v, i) => {
        const next = F.tidy(() => F.sub(v.value, F.mul(grads[i], 2e-4)));
        v.assign(next);
        F.dispose(next);
      });
      F.dispose([value, ...grads]);
    }
    expect(F.liveTensors()).to.equal(before);
    expect(losses.every(Number.isFinite)).to.equal(true);
    expect(losses[losses.length - 1]).to.be.below(losses[0] * 0.9);
    const terms = F.tidy(() => {
      const r = t.trainingLoss(x, SeededDraws.fromSeed(10));
      return Object.keys(r.terms);
    });
    expect(terms).to.have.members(['l1', 'l2', 'kl']);
    F.dispose(x);
    t.module.dispose();
  });
});
