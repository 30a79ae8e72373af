/**
 * The frequency direction through the contracts: options, capabilities, the training
 * example (one level per batch, low-passed inputs, full targets, level per row, the
 * optional mask and loss weight) and the sampling loop, on a tiny FAR-like generator
 * built from a JSON config.
 */
import { expect } from 'chai';
import {
  definePlugin, Engine, Generator, HostTensor, isTesseraError, maeBackbone, parseConfig, parseSettings, patchify, PluginHost,
  ReplayDraws, SamplingContext, SeededDraws, TfjsEngine, TOKENIZER,
} from '@tessera/core';
import { z } from 'zod';
import plugin, { FrequencyDirection, FrequencyState, levelLossWeight, lowPass, MASK_LEVELS, NOMASK_LEVELS } from '@tessera/direction-frequency';
import { buildTiny, disposeGenerator, tinyConfig } from '../core/sampler/tiny-generators';
import { REPO } from '../paths';

const i32 = (data: number[]): HostTensor => ({ dtype: 'int32', shape: [data.length], data: Int32Array.from(data) });
const f32 = (data: number[]): HostTensor => ({ dtype: 'float32', shape: [data.length], data: Float32Array.from(data) });

describe('direction-frequency', () => {
  let engine: Engine;
  let g: Generator;

  before(async () => {
    engine = await TfjsEngine.create();
    g = buildTiny(engine, tinyConfig('frequency'), 6);
  });
  after(() => disposeGenerator(g));

  it('is the `frequency` direction plugin with FAR\'s defaults per sampler', () => {
    expect(plugin).to.include({ name: 'frequency', kind: 'direction' });
    expect(plugin.options.parse({})).to.deep.include({ masking: false, levels: [...NOMASK_LEVELS], temperatureSchedule: 'cosine', alwaysGuided: true, lossWeight: false });
    expect(plugin.options.parse({ masking: true })).to.deep.include({ levels: [...MASK_LEVELS], temperatureSchedule: 'linear' });
    expect(plugin.options.safeParse({ level: [1] }).success).to.equal(false);
    expect(plugin.options.safeParse({ levels: [] }).success).to.equal(false);
    expect(g.direction).to.be.instanceOf(FrequencyDirection);
  });

  it('is refused with a tokenizer that has no latent pyramid', () => {
    const flat = definePlugin({
      name: 'flat', kind: 'tokenizer', description: 'continuous tokens without a pyramid', options: z.object({}).strict(),
      capabilities: { provides: ['continuous'], requires: [] }, register: (c) => c.register(TOKENIZER, { useValue: undefined as never }),
    });
    const host = new PluginHost({ searchPaths: [REPO], builtins: [maeBackbone, flat] });
    try {
      host.resolve(parseConfig({ ...tinyConfig('frequency'), tokenizer: { use: 'flat' } }, 'tiny.json'), 'tiny.json');
      expect.fail('should be refused');
    } catch (e) {
      expect(isTesseraError(e, 'PLUGIN_INCOMPATIBLE'), String(e)).to.equal(true);
      expect((e as { data: Record<string, unknown> }).data).to.deep.include({ plugin: 'direction/frequency', slot: 'tokenizer', missing: ['pyramid'] });
    }
  });

  it('builds a training example at one level for the batch: low-passed inputs, full targets, the level on every row', () => {
    const before = engine.liveTensors();
    const latent = engine.tensor(Float32Array.from({ length: 2 * 4 * 16 }, (_, i) => Math.cos(i)), [2, 4, 4, 4]);
    const draws = new ReplayDraws([{ name: 'level', tensor: i32([2]) }]);
    const ex = g.direction.trainingExample({ kind: 'continuous', latent }, g.tokenizer, draws);
    expect(draws.remaining).to.equal(0);
    expect(ex.visible).to.equal(undefined);
    expect(ex.weights).to.equal(undefined);
    expect(ex.lossScale).to.equal(undefined);
    expect(Array.from(engine.readSync(ex.headLevels!))).to.deep.equal(new Array(32).fill(2));
    const want = engine.tidy(() => patchify(engine, lowPass(engine, g.tokenizer.pyramid!, latent, 2), 1));
    expect(Array.from(engine.readSync(ex.inputs))).to.deep.equal(Array.from(engine.readSync(want)));
    const full = engine.tidy(() => engine.reshape(patchify(engine, latent, 1), [32, 4]));
    expect(Array.from(engine.readSync(ex.target.values!))).to.deep.equal(Array.from(engine.readSync(full)));
    engine.dispose([latent, want, full, ex.inputs, ex.headLevels!, ex.target.values!]);
    expect(engine.liveTensors()).to.equal(before);
  });

  it('optionally masks (ratio bound 0.7·k/16) and scales the loss by the frequency-aware weight', () => {
    const direction = new FrequencyDirection(engine, plugin.options.parse({ masking: true, lossWeight: true, levels: [0, 2] }));
    const latent = engine.zeros([1, 4, 4, 4]);
    const order = Array.from({ length: 16 }, (_, i) => 15 - i);
    const draws = new ReplayDraws([{ name: 'level', tensor: i32([3]) }, { name: 'order', tensor: i32(order) }, { name: 'ratio', tensor: f32([0.5]) }]);
    const ex = direction.trainingExample({ kind: 'continuous', latent }, g.tokenizer, draws);
    expect(draws.remaining).to.equal(0);
    expect(ex.lossScale).to.equal(levelLossWeight(3, 4));
    const visible = engine.readSync(ex.visible!);
    expect(Array.from(visible)).to.deep.equal(Array.from({ length: 16 }, (_, l) => (l >= 8 ? 0 : 1)));
    engine.dispose([latent, ex.inputs, ex.visible!, ex.headLevels!, ex.target.values!]);
  });

  it('refuses levels beyond the latent grid', () => {
    const direction = new FrequencyDirection(engine, plugin.options.parse({}));
    try {
      direction.schedule(g.tokenizer); // the default list goes up to 10 on a 4x4 latent
      expect.fail('should be refused');
    } catch (e) {
      expect(isTesseraError(e, 'CONFIG_INVALID')).to.equal(true);
    }
  });

  for (const masking of [false, true]) {
    it(`samples over the level list (${masking ? 'mask' : 'nomask'} sampler) without leaking`, () => {
      const before = engine.liveTensors();
      const direction = new FrequencyDirection(engine, plugin.options.parse({ masking, levels: [0, 1, 2, 4] }));
      const B = 2;
      const ctx: SamplingContext = {
        tokenizer: g.tokenizer, backbone: g.backbone, head: g.head, draws: SeededDraws.fromSeed(masking ? 1 : 2), settings: parseSettings({ cfg: 3 }),
        labels: engine.tensor(Int32Array.of(0, 10), [B], 'int32'), nullLabels: engine.full([B], 10, 'int32'),
      };
      let state: FrequencyState = direction.init(ctx);
      const seen: [number, number, number][] = [];
      while (!state.done) {
        state = direction.step(state, ctx);
        seen.push([state.last!.level, state.last!.cfg, state.last!.temperature]);
      }
      expect(seen.map((s) => s[0])).to.deep.equal([0, 1, 2, 4]);
      expect(seen.map((s) => s[1])).to.deep.equal([1, 1.5, 2, 2.5]);
      const tokens = direction.finalTokens(state, ctx);
      expect(tokens.kind === 'continuous' && tokens.latent.shape).to.deep.equal([B, 4, 4, 4]);
      const values = tokens.kind === 'continuous' ? engine.readSync(tokens.latent) : new Float32Array();
      expect(Array.from(values).every(Number.isFinite)).to.equal(true);
      if (tokens.kind === 'continuous') engine.dispose(tokens.latent);
      direction.dispose(state);
      engine.dispose([ctx.labels, ctx.nullLabels]);
      expect(engine.liveTensors()).to.equal(before);
    });
  }
});
