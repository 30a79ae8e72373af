/**
 * The masked direction through the contracts: options, capabilities, the training
 * example (orders, truncated-normal ratio, mask) and the sampling loop (tokens are
 * never resampled, the mask shrinks on the cosine schedule), on a tiny MAR-like
 * generator built from a JSON config; and MaskGIT (discrete tokens, categorical head).
 */
import { expect } from 'chai';
import {
  adalnBackbone, Engine, Generator, HostTensor, isTesseraError, maeBackbone, parseConfig, parseSettings, PluginHost, ReplayDraws, Rng, Sampler,
  SamplingContext, SeededDraws, TfjsEngine,
} from '@tessera/core';
import * as path from 'node:path';
import plugin, { MaskedDirection, MaskedState } from '@tessera/direction-masked';
import { buildTiny, disposeGenerator, tinyConfig } from '../core/sampler/tiny-generators';
import { REPO } from '../paths';

const f32 = (data: number[], shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(data) });
const i32 = (data: number[]): HostTensor => ({ dtype: 'int32', shape: [data.length], data: Int32Array.from(data) });

describe('direction-masked', () => {
  let engine: Engine;
  let g: Generator;

  before(async () => {
    engine = await TfjsEngine.create();
    g = buildTiny(engine, tinyConfig('masked'), 5);
  });
  after(() => disposeGenerator(g));

  it('is the `masked` direction plugin with strict options and MAR defaults', () => {
    expect(plugin).to.include({ name: 'masked', kind: 'direction' });
    expect(plugin.options.parse({})).to.deep.equal({ numIterations: 64, maskRatioMin: 0.7, patchSize: 1 });
    expect(plugin.options.safeParse({ numIter: 3 }).success).to.equal(false);
    expect(plugin.options.safeParse({ maskRatioMin: 1 }).success).to.equal(false);
    expect(g.direction).to.be.instanceOf(MaskedDirection);
  });

  it('is refused with a backbone that does not attend bidirectionally', () => {
    const host = new PluginHost({ searchPaths: [REPO], builtins: [maeBackbone, adalnBackbone] });
    const config = parseConfig({ ...tinyConfig('masked'), backbone: { use: 'adaln', options: {} } }, 'tiny.json');
    try {
      host.resolve(config, 'tiny.json');
      expect.fail('should be refused');
    } catch (e) {
      expect(isTesseraError(e, 'PLUGIN_INCOMPATIBLE'), String(e)).to.equal(true);
      expect((e as { data: Record<string, unknown> }).data).to.include({ plugin: 'direction/masked', other: 'backbone/adaln', slot: 'backbone' });
    }
  });

  it('builds a training example: one order per image, one truncated-normal ratio, ceil(L·r) masked, loss on masked rows', () => {
    const before = engine.liveTensors();
    const B = 2, L = 16;
    const orders = [Array.from({ length: L }, (_, i) => (i * 5) % L), Array.from({ length: L }, (_, i) => L - 1 - i)];
    const draws = new ReplayDraws([
      { name: 'order0', tensor: i32(orders[0]) }, { name: 'order1', tensor: i32(orders[1]) }, { name: 'ratio', tensor: f32([0.8], [1]) },
    ]);
    const latent = engine.tensor(Float32Array.from({ length: B * 4 * 16 }, (_, i) => i / 10), [B, 4, 4, 4]);
    const ex = g.direction.trainingExample({ kind: 'continuous', latent }, g.tokenizer, draws);
    expect(draws.remaining).to.equal(0);
    expect(ex.inputs.shape).to.deep.equal([B, L, 4]);
    expect(ex.attention.kind).to.equal('bidirectional');
    const visible = engine.readSync(ex.visible!);
    const weights = engine.readSync(ex.weights!);
    const nMasked = Math.ceil(L * 0.8);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < L; i++) {
        const pos = orders[b][i];
        expect(visible[b * L + pos], `b ${b} i ${i}`).to.equal(i < nMasked ? 0 : 1);
        expect(weights[b * L + pos]).to.equal(i < nMasked ? 1 : 0);
      }
    }
    expect(ex.target.values!.shape).to.deep.equal([B * L, 4]);
    // Token l of image b holds the latent's channels at pixel (l / 4, l % 4).
    const t = engine.readSync(ex.target.values!);
    const x = engine.readSync(latent);
    expect(t[(1 * L + 6) * 4 + 2]).to.be.closeTo(x[((1 * 4 + 2) * 4 + 1) * 4 + 2], 1e-6);
    // The whole training step runs through the contracts.
    const loss = engine.tidy(() => {
      const { hidden } = g.backbone.forward({ inputs: ex.inputs, labels: engine.tensor(Int32Array.of(1, 2), [2], 'int32'), attention: ex.attention, visible: ex.visible, training: { draws: SeededDraws.fromSeed(1) } });
      const [, , D] = hidden.shape;
      return g.head.loss({ z: engine.reshape(hidden, [B * L, D]) }, ex.target, ex.weights, SeededDraws.fromSeed(2));
    });
    expect(loss.shape).to.deep.equal([]);
    expect(Number.isFinite(engine.readSync(loss)[0])).to.equal(true);
    engine.dispose([loss, latent, ex.inputs, ex.visible!, ex.weights!, ex.target.values!]);
    expect(engine.liveTensors()).to.equal(before);
  });

  it('samples: the mask shrinks on the cosine schedule and generated tokens are never resampled', () => {
    const before = engine.liveTensors();
    const B = 2, L = 16;
    const ctx: SamplingContext = {
      tokenizer: g.tokenizer, backbone: g.backbone, head: g.head, draws: SeededDraws.fromSeed(3), settings: parseSettings({ cfg: 2.5, cfgSchedule: 'linear' }),
      labels: engine.tensor(Int32Array.of(3, 10), [B], 'int32'), nullLabels: engine.full([B], 10, 'int32'),
    };
    const direction = g.direction as MaskedDirection;
    let state: MaskedState = direction.init(ctx);
    const known = new Uint8Array(B * L);
    let previous = new Float32Array(B * L * 4);
    const masked: number[] = [];
    while (!state.done) {
      state = direction.step(state, ctx);
      const buffer = state.tokens;
      if (buffer.kind !== 'continuous') throw new Error('continuous tokens expected');
      const now = engine.readSync(buffer.values_BLC) as Float32Array;
      for (let i = 0; i < B * L; i++) {
        if (known[i]) expect(Array.from(now.slice(i * 4, i * 4 + 4))).to.deep.equal(Array.from(previous.slice(i * 4, i * 4 + 4)));
      }
      for (let i = 0; i < B * L; i++) known[i] = state.mask[i] ? 0 : 1;
      previous = Float32Array.from(now);
      masked.push(state.last!.maskLen);
      expect(state.last!.cfg).to.be.greaterThan(1).and.lessThan(2.5);
    }
    expect(masked).to.deep.equal([14, 11, 6, 1]);
    // The last iteration predicts every token still masked (the official mask keeps maskLen = 1 after it).
    expect(state.last!.predicted).to.equal(6);
    const tokens = direction.finalTokens(state);
    expect(tokens.kind === 'continuous' && tokens.latent.shape).to.deep.equal([B, 4, 4, 4]);
    if (tokens.kind === 'continuous') engine.dispose(tokens.latent);
    direction.dispose(state);
    engine.dispose([ctx.labels, ctx.nullLabels]);
    expect(engine.liveTensors()).to.equal(before);
  });

  it('lists its steps for progress displays', () => {
    expect(g.direction.schedule(g.tokenizer).map((s) => s.tokens)).to.deep.equal([2, 3, 5, 6]);
  });

  it('is MaskGIT with a categorical head over a single-scale discrete tokenizer: samples indices and trains on masked rows', () => {
    const config = parseConfig({
      name: 'tiny-maskgit',
      tokenizer: { use: 'msvq', options: { vocabSize: 32, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums: [4], resolution: 8, usingSelfAttention: false, usingMidSelfAttention: false } },
      direction: { use: 'masked', options: { numIterations: 4 } },
      head: { use: 'categorical', options: { width: 16, vocab: 32, adaLN: false } },
      backbone: { use: 'mae', options: { imgSize: 8, vaeStride: 2, vaeEmbedDim: 8, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 10, bufferSize: 2 } },
    }, 'tiny-maskgit.json');
    const host = new PluginHost({ searchPaths: [REPO], builtins: [maeBackbone] });
    const mg = host.build(host.resolve(config, path.join(REPO, 'tiny-maskgit.json')), { engine, draws: SeededDraws.fromSeed(1) });
    const rng = new Rng(1);
    for (const m of [mg.tokenizer.module, mg.backbone.module, mg.head.module]) m.initialize(rng);
    const before = engine.liveTensors();
    try {
      const { images, tokens } = new Sampler(mg).sample({ labels: [1, 2], settings: { cfg: 2, topK: 5 }, seed: 3 });
      expect(images.shape).to.deep.equal([2, 3, 8, 8]);
      expect(tokens.kind).to.equal('discrete');
      if (tokens.kind !== 'discrete') return;
      expect(tokens.indices.map((t) => t.shape)).to.deep.equal([[2, 16]]);
      expect(Array.from(engine.readSync(tokens.indices[0])).every((i) => i >= 0 && i < 32)).to.equal(true);
      engine.dispose([images, ...tokens.indices]);
      const loss = engine.tidy(() => {
        const img = engine.mul(engine.tensor(Float32Array.from({ length: 2 * 3 * 64 }, (_, i) => Math.sin(i)), [2, 3, 8, 8]), 0.5);
        const encoded = mg.tokenizer.encode(img);
        const ex = mg.direction.trainingExample(encoded, mg.tokenizer, SeededDraws.fromSeed(4));
        expect(ex.target.indices!.shape).to.deep.equal([32]);
        const { hidden } = mg.backbone.forward({ inputs: ex.inputs, labels: engine.tensor(Int32Array.of(1, 2), [2], 'int32'), attention: ex.attention, visible: ex.visible });
        return mg.head.loss({ z: engine.reshape(hidden, [32, 16]) }, ex.target, ex.weights, SeededDraws.fromSeed(2));
      });
      expect(Number.isFinite(engine.readSync(loss)[0])).to.equal(true);
      engine.dispose(loss);
      expect(engine.liveTensors()).to.equal(before);
    } finally {
      disposeGenerator(mg);
    }
  });
});
