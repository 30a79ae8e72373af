/**
 * The diffusion head (MAR paper §3, "Diffusion Loss"; mar.md §5.4-5.6, LTH14/mar
 * `models/diffloss.py` `DiffLoss`): p(token | z) is a small denoising diffusion over one
 * token conditioned on the backbone's vector z. Training draws a step and noise per row
 * (each row repeated `batchMultiplier` times, as MAR's `diffusion_batch_mul`); sampling runs
 * the reverse loop, with CFG mixing ε̂ of the [conditional; unconditional] halves at every step
 * and temperature scaling the step noise.
 *
 * FAR (far.md §2.2, yuhuUSTC/FAR `models/diffloss.py`): `levelConditioning` feeds the rows'
 * frequency level to the denoiser and `alwaysGuided` keeps FAR's always-CFG sampler.
 * HART (hart.md §5, mit-han-lab/hart `hart/modules/diffusion/diffloss.py`): `mode: 'residual'`
 * predicts the continuous residual of the last scale, scaled by 1/0.6, with 8 steps, x̂0
 * clipping and HART's guidance formula.
 */
import { compileIfSupported, CompiledFunction, DrawSource, Engine, Head, HeadInput, HeadObserver, HeadSample, HeadSampleOptions, HeadTarget, Module, Tensor, TesseraError } from '@tessera/core';
import { Denoiser, GaussianDiffusion, TrainingTerms } from './gaussian-diffusion';
import { sharedLevel, stepsForLevel } from './frequency-steps';
import { SimpleMLPAdaLN } from './mlp-adaln';
import type { DiffusionHeadOptions } from './options';
import { DiffusionSchedule } from './schedule';

/** The official `DiffLoss` module: its only parameters are the denoiser's, under `net.`. */
export class DiffLossModule extends Module {
  readonly net: SimpleMLPAdaLN;
  constructor(F: Engine, o: DiffusionHeadOptions) {
    super(F);
    this.net = this.child('net', new SimpleMLPAdaLN(F, {
      tokenChannels: o.tokenDim, zChannels: o.zChannels, width: o.width, depth: o.depth,
      learnSigma: o.learnSigma, levelConditioning: o.levelConditioning, trainingSteps: o.trainingSteps,
    }));
  }
}

export interface SampleTokensOptions {
  temperature: number;
  /** Guidance scale s (the head contract's `cfg`: `s·cond − (s−1)·uncond`). */
  cfg: number;
  /** Run the CFG path; default `alwaysGuided || cfg !== 1`. HART's own sampler decides by its c = s − 1 (`c !== 1`). */
  guided?: boolean;
  /** Respacing string; default `numSamplingSteps`. With `frequencyAwareSteps` on, the rows' level decides instead. */
  steps?: string;
  draws: DrawSource;
  /** Sees x after each reverse step, in diffusion units (before the residual scale). */
  onStep?: (k: number, x_NC: Tensor) => void;
}

export class DiffusionHead implements Head {
  /** MAR and FAR store the head as `diffloss.*` in their transformer checkpoints. */
  readonly weightPrefix = 'diffloss.';
  readonly id = 'head/diffusion';
  readonly module: DiffLossModule;
  readonly trainDiffusion: GaussianDiffusion;
  private readonly diffusions = new Map<string, GaussianDiffusion>();
  private readonly compiledSteps = new Map<string, CompiledFunction<Tensor>>();

  constructor(private readonly F: Engine, readonly options: DiffusionHeadOptions) {
    this.module = new DiffLossModule(F, options);
    this.trainDiffusion = this.diffusion('');
  }

  get net(): SimpleMLPAdaLN {
    return this.module.net;
  }

  /** The diffusion respaced by `steps` (cached; `""` = the training diffusion). */
  diffusion(steps: string): GaussianDiffusion {
    let d = this.diffusions.get(steps);
    if (!d) {
      const schedule = DiffusionSchedule.create({ noiseSchedule: this.options.noiseSchedule, numTimesteps: this.options.trainingSteps, respacing: steps });
      d = new GaussianDiffusion(this.F, schedule, this.options.learnSigma);
      this.diffusions.set(steps, d);
    }
    return d;
  }

  /** A level-conditioned head refuses rows without their level rather than silently dropping the term. */
  private requireLevel(level_N: Tensor | undefined): void {
    if (this.options.levelConditioning && !level_N) {
      throw new TesseraError('CONFIG_INVALID', '`levelConditioning` is on but the rows carry no `level`. Use direction `frequency`, or set `levelConditioning: false`', { subject: this.id });
    }
  }

  /** The plain (`guided` = false) or CFG-wrapped denoiser over condition rows z. */
  denoiser(z_NZ: Tensor, level_N: Tensor | undefined, guidance?: { cfg: number }): Denoiser {
    if (!guidance) return (x, t) => this.net.forward(x, t, z_NZ, level_N);
    return (x, t) => this.net.forwardWithCfg(x, t, z_NZ, guidance.cfg, this.options.guidanceFormula, level_N);
  }

  /** Row-wise training terms on targets in token units (no batch multiplier); draws t then ε. */
  trainingTerms(values_NC: Tensor, z_NZ: Tensor, level_N: Tensor | undefined, draws: DrawSource): TrainingTerms {
    const F = this.F;
    const N = values_NC.shape[0];
    const C = this.options.tokenDim;
    this.checkRows(values_NC, z_NZ, C);
    const t = draws.integers([N], 0, this.trainDiffusion.numSteps, 'diffusion training step');
    const noise = draws.normal([N, C], 'diffusion training noise');
    return F.tidy(() => {
      const x0 = this.options.mode === 'residual' ? F.div(values_NC, this.options.residualScale) : values_NC;
      return this.trainDiffusion.trainingLosses(this.denoiser(z_NZ, level_N), x0, t, F.tensor(noise, [N, C]));
    });
  }

  /**
   * Mean loss over the rows tiled `batchMultiplier` times, weighted by `weights` when given.
   * `observe` sees the per-row terms of the tiled rows: `mse`, `vb` (learned variance) and `rowLoss`.
   */
  loss(input: HeadInput, target: HeadTarget, weights: Tensor | undefined, draws: DrawSource, observe?: HeadObserver): Tensor {
    const F = this.F;
    if (!target.values) {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', 'the diffusion head needs continuous targets (`target.values`), got none. Use head `categorical`, or a continuous tokenizer such as `vae`', { subject: this.id });
    }
    const values = target.values;
    this.requireLevel(input.level);
    const mul = this.options.batchMultiplier;
    return F.tidy(() => {
      // MAR tiles whole blocks: rows [0..N) then [0..N) again (`repeat(mul, 1)`).
      const tile = (x: Tensor | undefined): Tensor | undefined => (x && mul > 1 ? F.tile(x, [mul, ...x.shape.slice(1).map(() => 1)]) : x);
      const terms = this.trainingTerms(tile(values) as Tensor, tile(input.z) as Tensor, tile(input.level), draws);
      if (observe) {
        const rows = { mse: terms.mse, vb: terms.vb, rowLoss: terms.loss };
        for (const [name, t] of Object.entries(rows)) if (t) observe(name, { dtype: 'float32', shape: [...t.shape], data: Float32Array.from(F.readSync(t) as Float32Array) });
      }
      const w = tile(weights);
      if (!w) return F.mean(terms.loss);
      const w_N = F.cast(w, 'float32');
      return F.div(F.sum(F.mul(terms.loss, w_N)), F.sum(w_N));
    });
  }

  /** The reverse loop over all rows; under guidance the rows are [conditional; unconditional]. */
  sampleTokens(z_NZ: Tensor, level_N: Tensor | undefined, options: SampleTokensOptions): Tensor {
    const F = this.F;
    const N = z_NZ.shape[0];
    const C = this.options.tokenDim;
    const guided = options.guided ?? this.isGuided(options.cfg);
    const steps = this.options.frequencyAwareSteps ? stepsForLevel(this.options.frequencyAwareSteps, sharedLevel(F, level_N)) : options.steps ?? this.options.numSamplingSteps;
    let xT: Tensor;
    if (guided) {
      if (N % 2 !== 0) throw new TesseraError('SHAPE_MISMATCH', `guided sampling needs [conditional; unconditional] rows, got an odd count ${N}`, { subject: this.id, data: { rows: N } });
      const n0 = initialNoise(F, options.draws, [N / 2, C]);
      xT = F.concat([n0, n0], 0);
      F.dispose(n0);
    } else {
      xT = initialNoise(F, options.draws, [N, C]);
    }
    const x = this.reverseLoop(steps, z_NZ, level_N, guided, xT, options);
    F.dispose(xT);
    if (this.options.mode !== 'residual') return x;
    const scaled = F.tidy(() => F.mul(x, this.options.residualScale));
    F.dispose(x);
    return scaled;
  }

  /**
   * `p_sample_loop` (GaussianDiffusion.sampleLoop's draws and arithmetic) with each reverse
   * step one graph on engines that trace (onnx; eager elsewhere): the step, the condition
   * rows, the step's noise (drawn on the host in the official order, so replay holds), the
   * temperature and the guidance scale are graph inputs; one session per row count.
   */
  private reverseLoop(steps: string, z_NZ: Tensor, level_N: Tensor | undefined, guided: boolean, xT_NC: Tensor, options: SampleTokensOptions): Tensor {
    const F = this.F;
    const diffusion = this.diffusion(steps);
    const { sampler, clipDenoised, guidanceFormula } = this.options;
    const key = JSON.stringify([steps, guided, !!level_N]);
    let step = this.compiledSteps.get(key);
    if (!step) {
      step = compileIfSupported(F, (x: Tensor, t: Tensor, noise: Tensor, temperature: Tensor, z: Tensor, ...rest: Tensor[]) => {
        const scale = guided ? rest.shift() : undefined;
        const level = rest.shift();
        const model: Denoiser = scale
          ? (xx, tt) => this.net.forwardWithCfg(xx, tt, z, scale, guidanceFormula, level)
          : (xx, tt) => this.net.forward(xx, tt, z, level);
        return diffusion.reverseStep(model, x, t, noise, temperature, clipDenoised, sampler);
      }, { weights: 'feed', name: 'diffusion_step' });
      this.compiledSteps.set(key, step);
    }
    const [N, C] = xT_NC.shape;
    const temperature = F.tensor([options.temperature], [1]);
    const extra = [...(guided ? [F.tensor(Float32Array.from([options.cfg, options.cfg - 1]), [2])] : []), ...(level_N ? [level_N] : [])];
    const label = sampler === 'ddim' ? 'diffusion ddim noise' : 'diffusion p_sample noise';
    let x = xT_NC;
    try {
      for (let i = diffusion.numSteps - 1, k = 0; i >= 0; i--, k++) {
        const noise = F.tensor(options.draws.normal([N, C], label), [N, C]);
        const t = F.full([N], i, 'int32');
        const next = step(x, t, noise, temperature, z_NZ, ...extra);
        F.dispose([noise, t]);
        if (x !== xT_NC) F.dispose(x);
        x = next;
        options.onStep?.(k, x);
      }
    } finally {
      F.dispose([temperature, ...(guided ? [extra[0]] : [])]);
    }
    return x === xT_NC ? F.tidy(() => F.add(x, 0)) : x;
  }

  sample(input: HeadInput, options: HeadSampleOptions): HeadSample {
    const F = this.F;
    this.requireLevel(input.level);
    const guided = options.guided ?? this.isGuided(options.cfg);
    const all = this.sampleTokens(input.z, input.level, { temperature: options.temperature, cfg: options.cfg, guided, steps: options.diffusionSteps ?? undefined, draws: options.draws });
    if (options.observe) options.observe('samples', { dtype: 'float32', shape: [...all.shape], data: Float32Array.from(F.readSync(all) as Float32Array) });
    if (!guided) return { values: all };
    const values = F.slice(all, [0, 0], [all.shape[0] / 2, -1]);
    F.dispose(all);
    return { values };
  }

  /** Whether the rows are [conditional; unconditional] pairs to mix. */
  private isGuided(cfg: number): boolean {
    return this.options.alwaysGuided || cfg !== 1;
  }

  private checkRows(values_NC: Tensor, z_NZ: Tensor, C: number): void {
    if (values_NC.shape.length !== 2 || values_NC.shape[1] !== C) {
      throw new TesseraError('SHAPE_MISMATCH', `diffusion targets must be [N, ${C}], got [${values_NC.shape.join(', ')}]`, { subject: this.id });
    }
    if (z_NZ.shape[0] !== values_NC.shape[0] || z_NZ.shape[1] !== this.options.zChannels) {
      throw new TesseraError('SHAPE_MISMATCH', `condition rows must be [${values_NC.shape[0]}, ${this.options.zChannels}], got [${z_NZ.shape.join(', ')}]`, { subject: this.id });
    }
  }
}

function initialNoise(F: Engine, draws: DrawSource, shape: [number, number]): Tensor {
  return F.tensor(draws.normal(shape, 'diffusion initial noise'), shape);
}
