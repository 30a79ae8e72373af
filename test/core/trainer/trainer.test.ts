/**
 * The trainer: options and method presets, schedules, AdamW / clipping against the
 * formulas, learning on tiny generators, divergence detection, and bit-exact resume
 * (an interrupted run continued from its checkpoint logs the same losses as one that
 * never stopped).
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  AdamW, Batcher, buildLatentCache, CachedLatentDataset, clipGradients, LatentBatcher, decays, Engine, Generator, init, learningRateFactor, listCheckpoints, Parameter, progressiveStage,
  initialProgressiveState, resolveRunDir, resolveTraining, runTraining, saveReconstructionGrid, saveSampleGrid, TfjsEngine, Trainer, transformerStateDict,
} from '@tessera/core';
import { buildTiny as buildScaleTiny, disposeGenerator, tinyVar } from '../../direction-scale/tiny';
import { buildTiny as buildMaeTiny, tinyConfig } from '../sampler/tiny-generators';
import { expectCode } from '../../helpers';
import { memoryDataset } from './memory-data';

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'tessera-trainer-'));

describe('core/trainer', () => {
  let F: Engine;
  before(async () => {
    F = await TfjsEngine.create();
  });

  describe('options', () => {
    it('fills the official recipe of the method: VAR for a categorical head, MAR for a diffusion head', () => {
      const v = resolveTraining({}, 'generator', 'categorical');
      expect(v.options).to.include({ preset: 'var', weightDecay: 0.05, gradClip: 2, ema: null, schedule: 'linear', warmupStartFactor: 0.005, flip: false });
      expect(v.options.betas).to.deep.equal([0.9, 0.95]);
      expect(v.defaulted).to.include.members(['preset', 'betas', 'steps']);
      const m = resolveTraining({ baseLearningRate: 0.01 }, 'generator', 'diffusion', { steps: 7 });
      expect(m.options).to.include({ preset: 'mar', weightDecay: 0.02, gradClip: 3, ema: 0.9999, schedule: 'constant', baseLearningRate: 0.01, steps: 7, flip: true });
      expect(m.options.noDecayPrefixes).to.deep.equal(['diffloss.']);
      expect(m.defaulted).to.not.include('baseLearningRate');
      const t = resolveTraining({ tokenizer: { steps: 3 } }, 'tokenizer', 'categorical');
      expect(t.options).to.include({ preset: 'tokenizer', steps: 3, weightDecay: 0, ema: null });
      expect(t.options.betas).to.deep.equal([0.5, 0.9]);
    });

    it('refuses unknown keys and bad values with the JSON path', () => {
      const e = expectCode(() => resolveTraining({ learningRate: 1 }, 'generator', 'categorical'), 'CONFIG_INVALID');
      expect(e.data.path).to.deep.equal(['training']);
      expect(expectCode(() => resolveTraining({ betas: [0.9, 1.5] }, 'generator', 'diffusion'), 'CONFIG_INVALID').data.path).to.deep.equal(['training', 'betas', 1]);
    });
  });

  describe('schedules', () => {
    it('warms up linearly, then keeps constant, decays by cosine, or follows VAR lin0', () => {
      const o = { steps: 101, warmupFraction: 0.1, warmupStartFactor: 0.005, finalFactor: 0.1 };
      const lin = { ...o, schedule: 'linear' as const };
      expect(learningRateFactor(lin, 0)).to.equal(0.005);
      expect(learningRateFactor(lin, 5)).to.be.closeTo(0.005 + 0.995 * 0.5, 1e-12);
      expect(learningRateFactor(lin, 12)).to.equal(1); // p < 0.05 stays flat
      expect(learningRateFactor(lin, 100)).to.be.closeTo(0.1, 1e-12);
      expect(learningRateFactor({ ...o, schedule: 'constant' }, 100)).to.equal(1);
      const cos = { ...o, schedule: 'cosine' as const };
      expect(learningRateFactor(cos, 10)).to.equal(1);
      expect(learningRateFactor(cos, 55)).to.be.closeTo(0.55, 1e-12);
      expect(learningRateFactor(cos, 100)).to.be.closeTo(0.1, 1e-12);
    });

    it('moves VAR progressive stages from pg0 to all scales, ramping each new scale from 0.01', () => {
      const o = resolveTraining({ steps: 100, warmupFraction: 0, progressive: { fraction: 0.5, startScale: 1, stageWarmupFraction: 0.1 } }, 'generator', 'categorical').options;
      const s = initialProgressiveState();
      const stages = Array.from({ length: 100 }, (_, step) => progressiveStage(o, 4, step, s));
      expect(stages[0]).to.deep.equal({ scale: 1, weight: 1 });
      const firstOf2 = stages.findIndex((x) => x?.scale === 2);
      expect(stages[firstOf2]?.weight).to.be.closeTo(0.1, 1e-12);
      expect(stages[firstOf2 + 9]?.weight).to.equal(1);
      expect(stages[60]).to.equal(null);
    });
  });

  describe('optimizer', () => {
    it('decays only ≥2-D weights outside the recipe\'s no-decay names and prefixes', () => {
      const rules = { noDecayNames: ['pos_start'], noDecayPrefixes: ['diffloss.'] };
      expect(decays('blocks.0.attn.mat_qkv.weight', [96, 32], rules)).to.equal(true);
      expect(decays('blocks.0.attn.mat_qkv.bias', [96], rules)).to.equal(false);
      expect(decays('pos_start', [1, 1, 32], rules)).to.equal(false);
      expect(decays('diffloss.net.input_proj.weight', [16, 4], rules)).to.equal(false);
    });

    it('takes torch AdamW steps and clips by the global norm', () => {
      const p = new Parameter('w', [2], init.zeros, F);
      p.set(F.tensor(Float32Array.from([1, -2]), [2]));
      const settings = resolveTraining({ betas: [0.9, 0.99], weightDecay: 0.1, eps: 1e-8 }, 'generator', 'diffusion').options;
      const opt = new AdamW(F, [{ key: 'w', parameter: p, decay: true }], settings);
      const g = [F.tensor(Float32Array.from([0.5, 0.25]), [2])];
      opt.step(g, 0.01);
      opt.step(g, 0.01);
      // by hand, twice: w ← w(1 − lr·λ); m, v moments; w ← w − lr/(1−β1ᵗ)·m/(√v/√(1−β2ᵗ) + ε)
      const expected = [1, -2].map((w0, i) => {
        let w = w0, m = 0, v = 0;
        const gi = [0.5, 0.25][i];
        for (let t = 1; t <= 2; t++) {
          w *= 1 - 0.01 * 0.1;
          m = 0.9 * m + 0.1 * gi;
          v = 0.99 * v + 0.01 * gi * gi;
          w -= (0.01 / (1 - 0.9 ** t)) * (m / (Math.sqrt(v) / Math.sqrt(1 - 0.99 ** t) + 1e-8));
        }
        return w;
      });
      const got = Array.from(F.readSync(p.value) as Float32Array);
      got.forEach((x, i) => expect(x).to.be.closeTo(expected[i], 1e-6));
      const { grads, norm } = clipGradients(F, [F.tensor(Float32Array.from([3, 4]), [2])], 1);
      expect(norm).to.be.closeTo(5, 1e-6);
      expect(Array.from(F.readSync(grads[0] as never) as Float32Array).map((x) => +x.toFixed(5))).to.deep.equal([0.6, 0.8]);
      F.dispose([...g, grads[0] as never]);
      opt.dispose();
      p.dispose();
    });
  });

  describe('training', () => {
    const batchOf = async (g: Generator, n: number): Promise<{ images: Float32Array; labels: Int32Array }> => {
      const data = memoryDataset(n, g.tokenizer.resolution[0]);
      return new Batcher(data, n, 0).next();
    };

    it('lowers the loss of a tiny VAR on a fixed batch, without leaking tensors', async () => {
      const g = buildScaleTiny(F, tinyVar(), 3);
      const o = resolveTraining({ baseLearningRate: 2, steps: 12, warmupFraction: 0 }, 'generator', 'categorical').options;
      const trainer = new Trainer(g, o);
      try {
        const batch = await batchOf(g, 8);
        const first = trainer.trainStep(batch);
        const live = F.liveTensors();
        let last = first;
        for (let i = 1; i < 12; i++) last = trainer.trainStep(batch);
        expect(F.liveTensors()).to.equal(live);
        expect(last.step).to.equal(12);
        expect(last.loss).to.be.lessThan(first.loss * 0.8);
      } finally {
        trainer.dispose();
        disposeGenerator(g);
      }
    });

    it('trains a tokenizer with its own loss', async () => {
      const g = buildScaleTiny(F, tinyVar(), 4);
      const o = resolveTraining({ tokenizer: { baseLearningRate: 0.5 } }, 'tokenizer', 'categorical', { steps: 8, batchSize: 4 }).options;
      const trainer = new Trainer(g, o);
      try {
        const batch = await batchOf(g, 4);
        const losses = Array.from({ length: 8 }, () => trainer.trainStep(batch).loss);
        expect(losses[7]).to.be.lessThan(losses[0]);
        expect(trainer.params.map((p) => p.key)).to.include('encoder.conv_in.weight');
      } finally {
        trainer.dispose();
        disposeGenerator(g);
      }
    });

    it('trains from a latent cache (the tokenizer runs once per image, not per step)', async () => {
      const g = buildMaeTiny(F, tinyConfig('masked'), 6);
      const o = resolveTraining({ batchSize: 4, baseLearningRate: 1, cacheLatents: true }, 'generator', 'diffusion').options;
      const trainer = new Trainer(g, o);
      try {
        const build = await buildLatentCache(g.tokenizer, memoryDataset(8, 8), { file: path.join(tmp(), 'latents.safetensors'), engine: F, flip: o.flip });
        const data = new LatentBatcher(CachedLatentDataset.open(build.file, build.key), o.batchSize, o.seed);
        const encode = g.tokenizer.encode.bind(g.tokenizer);
        let encodes = 0;
        (g.tokenizer as { encode: typeof encode }).encode = (...args) => { encodes++; return encode(...args); };
        const losses = [0, 1, 2].map(() => trainer.trainStep(data.next()).loss);
        losses.forEach((l) => expect(Number.isFinite(l)).to.equal(true));
        expect(encodes).to.equal(0);
        expect(o.cacheLatents).to.equal(true);
      } finally {
        trainer.dispose();
        disposeGenerator(g);
      }
    });

    it('writes sample grids and reconstruction grids (stochastic encoders included) without leaks', async () => {
      const g = buildMaeTiny(F, tinyConfig('masked'), 7);
      const trainer = new Trainer(g, resolveTraining({ ema: 0.5 }, 'tokenizer', 'diffusion').options);
      const dir = tmp();
      try {
        const live = F.liveTensors();
        const { images } = await batchOf(g, 4);
        await saveReconstructionGrid(trainer, path.join(dir, 'recon.png'), images as Float32Array, 4);
        await saveSampleGrid(trainer, path.join(dir, 'samples.png'), { count: 3 });
        expect(F.liveTensors()).to.equal(live);
        expect(readdirSync(dir).sort()).to.deep.equal(['recon.png', 'samples.png']);
      } finally {
        trainer.dispose();
        disposeGenerator(g);
      }
    });

    it('stops on a non-finite loss without touching the weights', async () => {
      const g = buildScaleTiny(F, tinyVar(), 5);
      const trainer = new Trainer(g, resolveTraining({}, 'generator', 'categorical', { batchSize: 2 }).options);
      try {
        const [, bias] = g.head.module.namedParameters().find(([k]) => k === 'head.bias') ?? [];
        bias?.set(F.full(bias.shape, Number.NaN));
        const before = await transformerStateDict(g);
        const batch = await batchOf(g, 2);
        const e = expectCode(() => trainer.trainStep(batch), 'TRAINING_DIVERGED');
        expect(e.exitCode).to.equal(1);
        expect(trainer.step).to.equal(0);
        const after = await transformerStateDict(g);
        for (const [k, t] of before) expect(Array.from((after.get(k)?.data ?? []) as Float32Array), k).to.deep.equal(Array.from(t.data as Float32Array));
      } finally {
        trainer.dispose();
        disposeGenerator(g);
      }
    });
  });

  describe('runs and resume', () => {
    const training = { steps: 5, batchSize: 4, baseLearningRate: 1, warmupFraction: 0.2, ema: 0.9, checkpointEvery: 2, keepCheckpoints: 2, logEvery: 1 };

    async function run(dir: string, options: { resume?: boolean; stopAfter?: number }): Promise<{ losses: number[]; weights: Map<string, Float32Array> }> {
      const g = buildMaeTiny(F, tinyConfig('masked'), 9);
      const o = resolveTraining(training, 'generator', 'diffusion').options;
      const trainer = new Trainer(g, o);
      try {
        const data = new Batcher(memoryDataset(10, 8), o.batchSize, o.seed, { flip: o.flip });
        const r = await runTraining({ trainer, data, outDir: dir, config: tinyConfig('masked'), ...options });
        const weights = new Map([...await transformerStateDict(g)].map(([k, t]) => [k, t.data as Float32Array]));
        return { losses: r.lines.map((l) => l.loss), weights };
      } finally {
        trainer.dispose();
        disposeGenerator(g);
      }
    }

    it('resumes bit-exactly: weights, AdamW, EMA, RNG and data position come back from the checkpoint', async () => {
      const full = tmp(), cut = tmp();
      const straight = await run(full, {});
      expect(straight.losses).to.have.length(5);
      const partial = await run(cut, { stopAfter: 3 }); // checkpoint at step 2; step 3 is lost as in a kill
      expect(partial.losses).to.have.length(3);
      expect(listCheckpoints(cut).map((c) => c.step)).to.deep.equal([2]);
      const resumed = await run(cut, { resume: true });
      expect(resumed.losses).to.have.length(3); // steps 3..5
      const logged = readFileSync(path.join(cut, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number });
      expect(logged.map((l) => l.step)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(logged.map((l) => l.loss)).to.deep.equal(straight.losses);
      for (const [k, w] of straight.weights) expect(Array.from(resumed.weights.get(k) ?? []), k).to.deep.equal(Array.from(w));
      expect(listCheckpoints(full).map((c) => c.step)).to.deep.equal([4, 5]);
      expect(readdirSync(path.join(full, 'checkpoints', 'step-0000005')).sort()).to.deep.equal(['ema.safetensors', 'model.safetensors', 'optimizer.safetensors', 'state.json', 'tokenizer.safetensors']);
      const files = resolveRunDir(full);
      expect(files.weights).to.equal(path.join(full, 'model.safetensors'));
      expect(files.tokenizerWeights).to.equal(path.join(full, 'tokenizer.safetensors'));
    });
  });
});
