#!/usr/bin/env node
/**
 * What FAR's frequency-aware diffusion steps save (head `diffusion`, option
 * `frequencyAwareSteps`; packages/head-diffusion/src/frequency-steps.ts). The released
 * FAR samples every frequency level with one respacing ("100"); the paper's schedule gives
 * the low-frequency levels fewer denoising steps, shifting the count linearly with the level.
 *
 * Samples a small FAR-like generator (vae + frequency + diffusion + mae, random weights)
 * with the option off and on, same seed, and prints per setting the step count of each
 * level, the denoiser calls, the seconds, and how far the samples move: the mean absolute
 * difference of the latents, beside the latents' mean magnitude and the seed-to-seed
 * difference with the option off (random weights: a reference scale, not a quality score).
 *
 * Run after `npx tsc -b` (the onnx engine by default: tfjs on wasm needs ~0.1 s per denoiser
 * call here, so use `--images 1 --steps 20` with it):
 *   node scripts/measure-frequency-steps.mjs [--engine onnx|tfjs] [--images 4] [--side 8]
 *        [--steps 100] [--lowest 25] [--highest 100] [--cfg 3] [--seed 0]
 */
import 'reflect-metadata';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(REPO, 'package.json'));
const core = require('@tessera/core');
const { stepsForLevel } = require('@tessera/head-diffusion');

function parseArgs(argv) {
  const o = { engine: 'onnx', images: 4, side: 8, steps: 100, lowest: 25, highest: 100, cfg: 3, seed: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in o)) throw new Error(`unknown option ${argv[i]}; known: ${Object.keys(o).map((k) => `--${k}`).join(' ')}`);
    o[key] = key === 'engine' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return o;
}

/** The generator config: a 4-channel latent of side `side` (stride-4 autoencoder), one level per AR step. */
function config(o, frequencyAwareSteps) {
  const img = o.side * 4;
  return {
    name: 'measure-frequency-steps',
    tokenizer: { use: 'vae', options: { embedDim: 4, baseChannels: 32, channelMultipliers: [1, 1, 1], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: img } },
    direction: { use: 'frequency', options: { levels: Array.from({ length: o.side }, (_, k) => k) } },
    head: {
      use: 'diffusion',
      options: {
        tokenDim: 4, zChannels: 64, width: 128, depth: 3, numSamplingSteps: String(o.steps), levelConditioning: true, alwaysGuided: true, frequencyAwareSteps,
        // x̂0 clipped to [−1, 1]: random weights would otherwise give samples of magnitude ~1e4 (mar.md §5.6)
        clipDenoised: true,
      },
    },
    backbone: {
      use: 'mae',
      options: {
        imgSize: img, vaeStride: 4, vaeEmbedDim: 4, encoderEmbedDim: 64, encoderDepth: 2, encoderNumHeads: 4,
        decoderEmbedDim: 64, decoderDepth: 2, decoderNumHeads: 4, classNum: 10, bufferSize: 4, attnDropout: 0, projDropout: 0,
      },
    },
  };
}

/** Builds the generator with random weights from `seed`; MAR's zero-initialised denoiser layers get small values so ε̂ depends on its inputs. */
function build(engine, cfg, seed) {
  const host = new core.PluginHost({ searchPaths: [REPO], builtins: [core.maeBackbone] });
  const g = host.build(host.resolve(core.parseConfig(cfg, 'measure-frequency-steps'), 'measure-frequency-steps'), { engine, draws: core.SeededDraws.fromSeed(seed) });
  const rng = new core.Rng(seed);
  for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.initialize(rng);
  for (const [, p] of g.head.module.trainableParameters()) {
    const v = engine.readSync(p.value);
    if (v.every((x) => x === 0)) p.set(engine.tensor(Float32Array.from(v, () => 0.02 * rng.normal()), [...p.shape]));
  }
  return g;
}

/**
 * Seeded draws that count the reverse diffusion steps: each draws its step noise once and
 * runs the denoiser once (the CFG wrapper evaluates both halves in one call). Counting
 * draws, not JS calls, also works where the engine traces the step into a graph (onnx).
 */
class StepCountingDraws extends core.SeededDraws {
  denoiserCalls = 0;

  normal(shape, label) {
    if (label === 'diffusion p_sample noise' || label === 'diffusion ddim noise') this.denoiserCalls++;
    return super.normal(shape, label);
  }
}

function sampleLatent(engine, g, o, seed) {
  const labels = Array.from({ length: o.images }, (_, i) => i % 10);
  const draws = new StepCountingDraws(new core.Rng(seed));
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const { images, tokens } = new core.Sampler(g).sample({ labels, settings: { cfg: o.cfg }, draws, clamp: false });
  const latent = Float32Array.from(engine.readSync(tokens.latent));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  engine.dispose([images, tokens.latent]);
  return { latent, seconds, cpu: (c.user + c.system) / 1e6, calls: draws.denoiserCalls };
}

const meanAbs = (a) => a.reduce((s, x) => s + Math.abs(x), 0) / a.length;
const meanAbsDiff = (a, b) => a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0) / a.length;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const [factory] = core.resolveEngines(o.engine);
  const engine = await factory.create();
  const schedule = { levels: o.side, lowestLevelSteps: o.lowest, highestLevelSteps: o.highest };
  const levels = Array.from({ length: o.side }, (_, k) => k);
  const settings = [
    { name: `off ("${o.steps}" at every level)`, option: null, perLevel: levels.map(() => o.steps) },
    { name: `on (${o.lowest} → ${o.highest})`, option: schedule, perLevel: levels.map((k) => Number(stepsForLevel(schedule, k))) },
  ];
  console.log(`frequency-aware diffusion steps: FAR-like generator, ${o.side}x${o.side}x4 latent, ${o.side} levels, ${o.images} images, cfg ${o.cfg}, engine ${o.engine}`);
  // Warm-up (kernel set-up, first-call costs) outside the timings.
  const warm = build(engine, config({ ...o, steps: 2 }, null), 1);
  sampleLatent(engine, warm, { ...o, images: 1 }, 0);
  for (const m of [warm.tokenizer.module, warm.backbone.module, warm.head.module]) m.dispose();
  const results = [];
  for (const s of settings) {
    const g = build(engine, config(o, s.option), 1);
    // The first run also builds what the engine caches per step count (onnx: one traced graph each).
    const cold = sampleLatent(engine, g, o, o.seed);
    const run = sampleLatent(engine, g, o, o.seed);
    const reference = s.option === null ? sampleLatent(engine, g, o, o.seed + 1).latent : undefined;
    for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.dispose();
    results.push({ ...s, calls: run.calls, seconds: run.seconds, cpu: run.cpu, cold: cold.seconds, latent: run.latent, reference });
    console.log(`  ${s.name.padEnd(28)} steps per level [${s.perLevel.join(', ')}]  denoiser calls ${String(run.calls).padStart(5)}  `
      + `${run.seconds.toFixed(2)} s wall, ${run.cpu.toFixed(2)} s CPU (first run ${cold.seconds.toFixed(2)} s wall)`);
  }
  const [off, on] = results;
  const pct = (a, b) => (100 * (1 - a / b)).toFixed(1);
  console.log(`  saved: ${off.calls - on.calls} denoiser calls (${pct(on.calls, off.calls)}%), ${(off.seconds - on.seconds).toFixed(2)} s wall (${pct(on.seconds, off.seconds)}%), `
    + `${(off.cpu - on.cpu).toFixed(2)} s CPU (${pct(on.cpu, off.cpu)}%); first runs ${pct(on.cold, off.cold)}% wall`);
  console.log(`  samples: mean |latent_on − latent_off| = ${meanAbsDiff(on.latent, off.latent).toPrecision(4)}; mean |latent_off| = ${meanAbs(off.latent).toPrecision(4)}; `
    + `seed-to-seed mean |Δ| (off, seeds ${o.seed} and ${o.seed + 1}) = ${meanAbsDiff(off.latent, off.reference).toPrecision(4)}`);
}

main().catch((e) => {
  console.error(e instanceof Error && 'code' in e ? `${e.code}: ${e.message}` : e);
  process.exit(1);
});
