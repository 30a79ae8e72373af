/**
 * The generic Sampler over generators built from JSON configs through the plugin host:
 * a tiny MAR-like (vae + masked + diffusion + mae) and FAR-like (vae + frequency +
 * diffusion + mae) generator each sample images end to end; batching, seeds, progress,
 * settings validation and memory hygiene.
 */
import { expect } from 'chai';
import { Engine, Generator, isTesseraError, parseSettings, Sampler, SampleProgress, TfjsEngine } from '@tessera/core';
import { buildTiny, disposeGenerator, tinyConfig } from './tiny-generators';

async function read(engine: Engine, t: Parameters<Engine['read']>[0]): Promise<Float32Array> {
  return Float32Array.from(await engine.read(t));
}

describe('core/sampler', () => {
  let engine: Engine;
  let mar: Generator;
  let far: Generator;

  before(async () => {
    engine = await TfjsEngine.create();
    mar = buildTiny(engine, tinyConfig('masked'), 3);
    far = buildTiny(engine, tinyConfig('frequency'), 4);
  });
  after(() => {
    disposeGenerator(mar);
    disposeGenerator(far);
  });

  it('samples images [B, 3, H, W] in [-1, 1] and tokens with a MAR-like generator, reporting every step', () => {
    const before = engine.liveTensors();
    const seen: SampleProgress[] = [];
    const { images, tokens } = new Sampler(mar).sample({ labels: [1, 2, null], settings: { cfg: 2 }, seed: 7, onStep: (p) => seen.push(p) });
    expect(images.shape).to.deep.equal([3, 3, 8, 8]);
    expect(tokens.kind).to.equal('continuous');
    if (tokens.kind === 'continuous') expect(tokens.latent.shape).to.deep.equal([3, 4, 4, 4]);
    const px = engine.readSync(images);
    expect(Array.from(px).every((v) => v >= -1 && v <= 1 && Number.isFinite(v))).to.equal(true);
    expect(seen.map((p) => p.step.index)).to.deep.equal([0, 1, 2, 3]);
    expect(seen.every((p) => p.steps === 4 && p.batches === 1)).to.equal(true);
    // All 16 tokens are generated over the 4 iterations.
    expect(seen.reduce((n, p) => n + p.step.tokens, 0)).to.equal(16);
    engine.dispose([images, ...(tokens.kind === 'continuous' ? [tokens.latent] : [])]);
    expect(engine.liveTensors()).to.equal(before);
  });

  it('samples with a FAR-like generator over its level list', () => {
    const before = engine.liveTensors();
    const labels: string[] = [];
    const { images, tokens } = new Sampler(far).sample({ labels: [0, 9], settings: { cfg: 3 }, seed: 1, onStep: (p) => labels.push(p.step.label) });
    expect(images.shape).to.deep.equal([2, 3, 8, 8]);
    expect(labels).to.deep.equal(['level 0 (1/4)', 'level 1 (2/4)', 'level 2 (3/4)', 'level 3 (4/4)']);
    engine.dispose([images, ...(tokens.kind === 'continuous' ? [tokens.latent] : [])]);
    expect(engine.liveTensors()).to.equal(before);
  });

  it('is deterministic under a seed, and batches share one stream per run', async () => {
    const run = async (seed: number, batchSize?: number): Promise<Float32Array> => {
      const { images, tokens } = new Sampler(mar).sample({ labels: [3, 4], seed, batchSize, clamp: false });
      const out = await read(engine, images);
      engine.dispose([images, ...(tokens.kind === 'continuous' ? [tokens.latent] : [])]);
      return out;
    };
    const a = await run(11);
    expect(await run(11)).to.deep.equal(a);
    expect(await run(12)).to.not.deep.equal(a);
    const batched = await run(11, 1);
    expect(batched.length).to.equal(a.length);
  });

  it('with per-image seeds and batch size 1, an image depends only on its own seed and label', async () => {
    const imageOf = async (labels: number[], seeds: number[], index: number): Promise<Float32Array> => {
      const { images, tokens } = new Sampler(mar).sample({ labels, seeds, batchSize: 1, clamp: false });
      const all = await read(engine, images);
      engine.dispose([images, ...(tokens.kind === 'continuous' ? [tokens.latent] : [])]);
      const per = all.length / labels.length;
      return all.slice(index * per, (index + 1) * per);
    };
    const alone = await imageOf([5], [42], 0);
    const inRun = await imageOf([1, 5, 2], [7, 42, 9], 1);
    expect(inRun).to.deep.equal(alone);
  });

  it('refuses bad requests with USAGE / CONFIG_INVALID errors', () => {
    const sampler = new Sampler(mar);
    const codeOf = (f: () => unknown): string | undefined => {
      try { f(); } catch (e) { return isTesseraError(e) ? e.code : 'other'; }
      return undefined;
    };
    expect(codeOf(() => sampler.sample({ labels: [] }))).to.equal('USAGE');
    expect(codeOf(() => sampler.sample({ labels: [10] }))).to.equal('USAGE');
    expect(codeOf(() => sampler.sample({ labels: [1], batchSize: 0 }))).to.equal('USAGE');
    expect(codeOf(() => sampler.sample({ labels: [1, 2], seeds: [1] }))).to.equal('USAGE');
    expect(codeOf(() => parseSettings({ cfg: -1 }))).to.equal('CONFIG_INVALID');
    expect(codeOf(() => parseSettings({ bogus: 1 } as never))).to.equal('CONFIG_INVALID');
  });

  it('reads the null class from the backbone', () => {
    expect(new Sampler(mar).nullClass).to.equal(10);
    expect(new Sampler(mar, { nullClass: 4 }).nullClass).to.equal(4);
  });

  it('fills sampler settings with defaults', () => {
    expect(parseSettings({})).to.deep.include({ cfg: 1, cfgSchedule: 'linear', temperature: 1, topK: null, topP: null, greedy: false, smooth: false });
  });
});
