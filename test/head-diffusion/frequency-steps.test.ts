/**
 * FAR's frequency-aware diffusion steps (frequency-steps.ts, option `frequencyAwareSteps`):
 * the per-level step counts, the count of denoiser calls at each AR step of the frequency
 * direction's sampling loop, and that with the option off (the default) nothing changes:
 * one respacing at every level, and the FAR DiffLoss sampling cases still pass.
 */
import { expect } from 'chai';
import {
  CaseResult, Engine, Generator, parseSettings, Rng, runParity, SamplingContext, SeededDraws, Tensor, TfjsEngine,
} from '@tessera/core';
import plugin, { DiffusionHead, diffusionHeadOptionsSchema, FrequencyAwareSteps, stepsForLevel } from '@tessera/head-diffusion';
import { buildTiny, disposeGenerator, tinyConfig } from '../core/sampler/tiny-generators';
import { FIXTURES } from '../paths';

const LEVELS = [0, 1, 2, 3];

/** The tiny FAR-like generator (4x4 latent, levels 0..3) with head options merged in. */
function tinyFar(engine: Engine, headExtra: Record<string, unknown>): Generator {
  const config = tinyConfig('frequency') as { head: { options: Record<string, unknown> } };
  config.head.options = { ...config.head.options, ...headExtra };
  return buildTiny(engine, config, 4);
}

/** Counts the denoiser's forward calls (plain or CFG-wrapped) on a head instance. */
function countDenoiserCalls(head: DiffusionHead): { calls: number } {
  const counter = { calls: 0 };
  const net = head.net;
  const plain = net.forward.bind(net);
  const guided = net.forwardWithCfg.bind(net);
  let inside = false; // the CFG wrapper runs the plain forward once: one call
  const counted = <A extends unknown[], R>(f: (...a: A) => R) => (...args: A): R => {
    if (inside) return f(...args);
    counter.calls++;
    inside = true;
    try { return f(...args); } finally { inside = false; }
  };
  net.forward = counted(plain);
  net.forwardWithCfg = counted(guided);
  return counter;
}

/** Runs the frequency direction's loop by hand; returns the denoiser calls of each AR step and the final latent. */
function callsPerStep(engine: Engine, g: Generator, settings: Parameters<typeof parseSettings>[0]): { perStep: number[]; latent: Float32Array } {
  const counter = countDenoiserCalls(g.head as DiffusionHead);
  const ctx: SamplingContext = {
    tokenizer: g.tokenizer, backbone: g.backbone, head: g.head, draws: SeededDraws.fromSeed(8), settings: parseSettings(settings),
    labels: engine.tensor(Int32Array.of(1, 2), [2], 'int32'), nullLabels: engine.full([2], 10, 'int32'),
  };
  const perStep: number[] = [];
  let state = g.direction.init(ctx);
  try {
    while (!state.done) {
      const before = counter.calls;
      state = g.direction.step(state, ctx);
      perStep.push(counter.calls - before);
    }
    const tokens = g.direction.finalTokens(state, ctx);
    const latent = tokens.kind === 'continuous' ? tokens.latent : (undefined as never);
    const data = Float32Array.from(engine.readSync(latent) as Float32Array);
    engine.dispose(latent);
    return { perStep, latent: data };
  } finally {
    g.direction.dispose(state);
    engine.dispose([ctx.labels, ctx.nullLabels]);
  }
}

describe('head-diffusion frequency-aware steps', () => {
  let engine: Engine;
  before(async () => {
    engine = await TfjsEngine.create();
  });

  it('ramps the step count linearly from the lowest to the highest level, clamping outside levels', () => {
    const far: FrequencyAwareSteps = { levels: 16, lowestLevelSteps: 25, highestLevelSteps: 100 };
    expect([0, 1, 8, 15, 16].map((k) => stepsForLevel(far, k))).to.deep.equal(['25', '30', '65', '100', '100']);
    expect(stepsForLevel({ levels: 1, lowestLevelSteps: 10, highestLevelSteps: 40 }, 0)).to.equal('40');
    expect(diffusionHeadOptionsSchema.parse({}).frequencyAwareSteps).to.equal(null);
    // One step has no second posterior variance to clip with (the official tables fail too).
    expect(diffusionHeadOptionsSchema.safeParse({ frequencyAwareSteps: { levels: 4, lowestLevelSteps: 1, highestLevelSteps: 3 } }).success).to.equal(false);
  });

  it('runs each AR step of the frequency loop with its level\'s step count', () => {
    const g = tinyFar(engine, { frequencyAwareSteps: { levels: 4, lowestLevelSteps: 2, highestLevelSteps: 5 } });
    try {
      const before = engine.liveTensors();
      // The sampler's own `diffusionSteps` is overridden by the level's count.
      const { perStep } = callsPerStep(engine, g, { cfg: 2, diffusionSteps: '3' });
      expect(perStep).to.deep.equal(LEVELS.map((k) => Number(stepsForLevel({ levels: 4, lowestLevelSteps: 2, highestLevelSteps: 5 }, k))));
      expect(perStep).to.deep.equal([2, 3, 4, 5]);
      expect(engine.liveTensors()).to.equal(before);
    } finally {
      disposeGenerator(g);
    }
  });

  it('is off by default: one respacing (the head\'s, or the sampler\'s) at every level', () => {
    const g = tinyFar(engine, {});
    try {
      expect(callsPerStep(engine, g, { cfg: 2 }).perStep).to.deep.equal([3, 3, 3, 3]);
      expect(callsPerStep(engine, g, { cfg: 2, diffusionSteps: '2' }).perStep).to.deep.equal([2, 2, 2, 2]);
    } finally {
      disposeGenerator(g);
    }
  });

  it('with a flat schedule equal to the respacing, samples exactly what the head samples without it', () => {
    const off = tinyFar(engine, {});
    const flat = tinyFar(engine, { frequencyAwareSteps: { levels: 4, lowestLevelSteps: 3, highestLevelSteps: 3 } });
    try {
      const a = callsPerStep(engine, off, { cfg: 2 }).latent;
      const b = callsPerStep(engine, flat, { cfg: 2 }).latent;
      expect(Array.from(b)).to.deep.equal(Array.from(a));
    } finally {
      disposeGenerator(off);
      disposeGenerator(flat);
    }
  });

  it('refuses rows without a level when on', () => {
    const head = new DiffusionHead(engine, diffusionHeadOptionsSchema.parse({
      tokenDim: 4, zChannels: 8, width: 8, depth: 1, frequencyAwareSteps: { levels: 4, lowestLevelSteps: 2, highestLevelSteps: 5 },
    }));
    head.module.initialize(new Rng(1));
    const z: Tensor = engine.zeros([2, 8]);
    try {
      expect(() => head.sample({ z }, { temperature: 1, cfg: 1, draws: SeededDraws.fromSeed(1) })).to.throw().with.property('code', 'CONFIG_INVALID');
    } finally {
      engine.dispose(z);
      head.module.dispose();
    }
  });

  it('leaves the FAR DiffLoss sampling cases passing (option off)', async () => {
    const results: CaseResult[] = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds: ['far.diffloss.sample'],
    });
    expect(results.length).to.be.at.least(1);
    for (const r of results) expect(r.status, `${r.case}: ${r.message ?? ''}`).to.equal('pass');
  });
});
