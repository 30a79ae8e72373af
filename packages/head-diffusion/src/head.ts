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

/** Reverse steps per compiled graph (a longer graph saves session runs but costs more to build per row count). */
const FUSED_STEPS = 10;

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
    if (guided && N % 2 !== 0) throw new TesseraError('SHAPE_MISMATCH', `guided sampling needs [conditional; unconditional] rows, got an odd count ${N}`, { subject: this.id, data: { rows: N } });
    // Under guidance both halves start from the same noise (drawn once, stacked on the host).
    const n0 = options.draws.normal([guided ? N / 2 : N, C], 'diffusion initial noise');
    const xT = F.tensor(guided ? concatRows(n0, n0) : n0, [N, C]);
    return this.reverseLoop(steps, z_NZ, level_N, guided, xT, options);
  }

  /**
   * `p_sample_loop` (GaussianDiffusion.sampleLoop's draws and arithmetic) with up to
   * `FUSED_STEPS` reverse steps per graph on engines that trace (onnx; eager elsewhere):
   * the steps' indices and noise (drawn on the host in the official order before the
   * chunk runs, stacked [S, N, C], so replay holds), the condition rows, the temperature
   * and the guidance scale are graph inputs; the residual mode's output scaling is in the
   * last chunk. One session per (row count, chunk length). With `onStep` every step is
   * its own chunk, so the callback sees each x (before the residual scaling).
   */
  private reverseLoop(steps: string, z_NZ: Tensor, level_N: Tensor | undefined, guided: boolean, xT_NC: Tensor, options: SampleTokensOptions): Tensor {
    const F = this.F;
    const diffusion = this.diffusion(steps);
    const [N, C] = xT_NC.shape;
    const total = diffusion.numSteps;
    const perChunk = options.onStep ? 1 : Math.min(FUSED_STEPS, Math.max(1, total));
    const temperature = F.tensor([options.temperature], [1]);
    const extra = [...(guided ? [F.tensor(Float32Array.from([options.cfg, options.cfg - 1]), [2])] : []), ...(level_N ? [level_N] : [])];
    const label = this.options.sampler === 'ddim' ? 'diffusion ddim noise' : 'diffusion p_sample noise';
    const scaled = this.options.mode === 'residual';
    let x = xT_NC;
    try {
      if (total === 0) {
        const out = F.tidy(() => (scaled ? F.mul(x, this.options.residualScale) : F.add(x, 0)));
        F.dispose(x);
        return out;
      }
      for (let done = 0; done < total;) {
        const S = Math.min(perChunk, total - done);
        const last = done + S === total;
        const noise = new Float32Array(S * N * C);
        const t = new Int32Array(S * N);
        for (let s = 0; s < S; s++) {
          noise.set(options.draws.normal([N, C], label), s * N * C);
          t.fill(total - 1 - (done + s), s * N, (s + 1) * N); // the reverse loop runs i = T−1 … 0
        }
        const noise_SNC = F.tensor(noise, [S, N, C]);
        const t_SN = F.tensor(t, [S, N], 'int32');
        const next = this.chunk(steps, guided, !!level_N, S, last && scaled && !options.onStep)(x, t_SN, noise_SNC, temperature, z_NZ, ...extra);
        F.dispose([noise_SNC, t_SN]);
        F.dispose(x);
        x = next;
        done += S;
        options.onStep?.(done - 1, x);
      }
      if (!scaled || !options.onStep) return x;
      const out = F.tidy(() => F.mul(x, this.options.residualScale)); // after the callback saw the unscaled x
      F.dispose(x);
      return out;
    } catch (e) {
      F.dispose(x); // this loop owns x, the initial noise included
      throw e;
    } finally {
      F.dispose([temperature, ...(guided ? [extra[0]] : [])]);
    }
  }

  /** The compiled function of S consecutive reverse steps (see reverseLoop). */
  private chunk(steps: string, guided: boolean, leveled: boolean, S: number, scaleOutput: boolean): CompiledFunction<Tensor> {
    const key = JSON.stringify([steps, guided, leveled, S, scaleOutput]);
    let fn = this.compiledSteps.get(key);
    if (fn) return fn;
    const F = this.F;
    const diffusion = this.diffusion(steps);
    const { sampler, clipDenoised, guidanceFormula, residualScale } = this.options;
    fn = compileIfSupported(F, (x0: Tensor, t_SN: Tensor, noise_SNC: Tensor, temperature: Tensor, z: Tensor, ...rest: Tensor[]) => {
      const scale = guided ? rest[0] : undefined;
      const level = leveled ? rest[guided ? 1 : 0] : undefined;
      // Every row of a reverse step is at the same step (t_SN is filled per step): the net
      // gets that one step, so its time embedding is made on one row and broadcast.
      const oneStep = (tt: Int32Array | Tensor): Int32Array | Tensor => (tt instanceof Int32Array ? tt.subarray(0, 1) : F.slice(tt, [0], [1]));
      const model: Denoiser = scale
        ? (xx, tt) => this.net.forwardWithCfg(xx, oneStep(tt), z, scale, guidanceFormula, level)
        : (xx, tt) => this.net.forward(xx, oneStep(tt), z, level);
      const [, N, C] = noise_SNC.shape;
      return F.tidy(() => {
        let x = x0;
        for (let s = 0; s < S; s++) {
          const t_N = F.reshape(F.slice(t_SN, [s, 0], [1, N]), [N]); // [1, N] -> [N]
          const noise_NC = F.reshape(F.slice(noise_SNC, [s, 0, 0], [1, N, C]), [N, C]); // [1, N, C] -> [N, C]
          x = diffusion.reverseStep(model, x, t_N, noise_NC, temperature, clipDenoised, sampler);
        }
        return scaleOutput ? F.mul(x, residualScale) : x;
      });
    }, { weights: 'auto', name: 'diffusion_steps' });
    this.compiledSteps.set(key, fn);
    return fn;
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

/** Rows of `a` then rows of `b`, on the host. */
function concatRows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
