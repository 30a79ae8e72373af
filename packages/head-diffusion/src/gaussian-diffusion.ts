/**
 * The Gaussian diffusion a per-token head trains and samples with (DDPM, Ho et al. 2020,
 * with IDDPM's learned-range variance, Nichol & Dhariwal 2021): q_sample, the training loss
 * (ε-MSE plus the variational-bound term that teaches the variance), p_mean_variance, the
 * DDPM reverse step with MAR's temperature, a deterministic DDIM step, and the reverse loop.
 * Follows mar.md §5.2-5.6 and LTH14/mar `diffusion/gaussian_diffusion.py` +
 * `diffusion/diffusion_utils.py` (HART and FAR ship the same file). Schedules are float64
 * host tables (`schedule.ts`); each lookup casts one value per row to float32, and all
 * tensor math is float32 in the official order of operations.
 *
 * A model is called with the current x and the ORIGINAL step of each row
 * (`timestepMap[t]`), as `SpacedDiffusion`'s wrapped model does.
 */
import { DrawSource, Engine, Tensor, TesseraError } from '@tessera/core';
import { DiffusionSchedule } from './schedule';

/**
 * The denoiser: (x [N, C], original step per row) → [ε̂ | v] [N, 2C] (or ε̂ [N, C] with fixed
 * variance). Steps are host integers, or an int32 tensor [N] inside a traced sampling step.
 */
export type Denoiser = (x_NC: Tensor, originalTimesteps: Int32Array | Tensor) => Tensor;

/** Per-row steps of the (respaced) schedule: host integers, or an int32 tensor [N] (traced steps). */
export type Steps = ArrayLike<number> | Tensor;

const isTensor = (x: unknown): x is Tensor => !!x && typeof (x as Tensor).dtype === 'string' && Array.isArray((x as Tensor).shape);

export type ReverseSampler = 'ddpm' | 'ddim';

export interface MeanVariance {
  mean: Tensor;
  variance: Tensor;
  logVariance: Tensor;
  predXstart: Tensor;
}

export interface TrainingTerms {
  /** mse + vb per row, [N] */
  loss: Tensor;
  mse: Tensor;
  /** Present when the variance is learned. */
  vb?: Tensor;
  xt: Tensor;
}

export interface StepOptions {
  clipDenoised: boolean;
  temperature: number;
}

export class GaussianDiffusion {
  constructor(private readonly F: Engine, readonly schedule: DiffusionSchedule, readonly learnSigma: boolean) {}

  get numSteps(): number {
    return this.schedule.numTimesteps;
  }

  /**
   * `_extract_into_tensor`: table[t_n] per row, cast to float32, [N, 1]. A step tensor
   * gathers from the whole table cast to float32: the same values.
   */
  extract(table: Float64Array, t: Steps): Tensor {
    if (isTensor(t)) return this.F.reshape(this.F.gather(this.F.tensor(Float32Array.from(table), [table.length]), t, 0), [t.shape[0], 1]);
    const out = new Float32Array(t.length);
    for (let n = 0; n < t.length; n++) out[n] = table[t[n]];
    return this.F.tensor(out, [t.length, 1]);
  }

  originalTimesteps(t: ArrayLike<number>): Int32Array;
  originalTimesteps(t: Steps): Int32Array | Tensor;
  originalTimesteps(t: Steps): Int32Array | Tensor {
    const map = this.schedule.timestepMap;
    if (isTensor(t)) return this.F.gather(this.F.tensor(Int32Array.from(map), [map.length], 'int32'), t, 0);
    return Int32Array.from({ length: t.length }, (_, n) => {
      const i = t[n];
      if (!(i >= 0 && i < map.length)) throw new TesseraError('SHAPE_MISMATCH', `diffusion step ${i} is outside 0..${map.length - 1}`, { subject: 'head/diffusion' });
      return map[i];
    });
  }

  /** x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε */
  qSample(x0_NC: Tensor, t: ArrayLike<number>, noise_NC: Tensor): Tensor {
    const F = this.F;
    const s = this.schedule;
    return F.tidy(() => F.add(F.mul(this.extract(s.sqrtAlphasCumprod, t), x0_NC), F.mul(this.extract(s.sqrtOneMinusAlphasCumprod, t), noise_NC)));
  }

  /** Mean of q(x_{t−1} | x_t, x_0). */
  qPosteriorMean(x0_NC: Tensor, xt_NC: Tensor, t: Steps): Tensor {
    const F = this.F;
    const s = this.schedule;
    return F.tidy(() => F.add(F.mul(this.extract(s.posteriorMeanCoef1, t), x0_NC), F.mul(this.extract(s.posteriorMeanCoef2, t), xt_NC)));
  }

  /** Splits a model output into ε̂ and the variance values (none with fixed variance). */
  splitOutput(out_NO: Tensor, C: number): [Tensor, Tensor | undefined] {
    if (!this.learnSigma) return [out_NO, undefined];
    if (out_NO.shape[1] !== 2 * C) throw new TesseraError('SHAPE_MISMATCH', `a learned-variance model must output ${2 * C} channels, got ${out_NO.shape[1]}`, { subject: 'head/diffusion' });
    const [eps, v] = this.F.split(out_NO, [C, C], 1);
    return [eps, v];
  }

  /** p_mean_variance from ε̂ and v (LEARNED_RANGE) or the FIXED_LARGE variance. */
  meanVariance(eps_NC: Tensor, v_NC: Tensor | undefined, x_NC: Tensor, t: Steps, clipDenoised: boolean): MeanVariance {
    const F = this.F;
    const s = this.schedule;
    return F.tidy(() => {
      let logVariance: Tensor;
      if (v_NC) {
        const minLog = this.extract(s.posteriorLogVarianceClipped, t);
        const maxLog = this.extract(s.logBetas, t);
        const frac = F.div(F.add(v_NC, 1), 2); // v ∈ [−1, 1] spans [σ̃², β]
        logVariance = F.add(F.mul(frac, maxLog), F.mul(F.sub(1, frac), minLog));
      } else {
        logVariance = F.broadcastTo(this.extract(s.fixedLargeVariance.map(Math.log), t), x_NC.shape);
      }
      const variance = F.exp(logVariance);
      let predXstart = F.sub(F.mul(this.extract(s.sqrtRecipAlphasCumprod, t), x_NC), F.mul(this.extract(s.sqrtRecipm1AlphasCumprod, t), eps_NC));
      if (clipDenoised) predXstart = F.clip(predXstart, -1, 1);
      const mean = this.qPosteriorMean(predXstart, x_NC, t);
      return { mean, variance, logVariance, predXstart };
    });
  }

  /** p_mean_variance with the model called on (x, t). */
  pMeanVariance(model: Denoiser, x_NC: Tensor, t: Steps, clipDenoised: boolean): MeanVariance & { modelOutput: Tensor } {
    const F = this.F;
    return F.tidy(() => {
      const modelOutput = model(x_NC, this.originalTimesteps(t));
      const [eps, v] = this.splitOutput(modelOutput, x_NC.shape[1]);
      return { ...this.meanVariance(eps, v, x_NC, t, clipDenoised), modelOutput };
    });
  }

  /**
   * One DDPM reverse step: x_{t−1} = μ + [t ≠ 0]·exp(½ logσ²)·n·temperature. The noise n is
   * drawn for every row at every step, t = 0 included (mar.md §5.5).
   */
  pSample(model: Denoiser, x_NC: Tensor, t: ArrayLike<number>, options: StepOptions, draws: DrawSource): MeanVariance & { modelOutput: Tensor; sample: Tensor } {
    const F = this.F;
    return F.tidy(() => {
      const out = this.pMeanVariance(model, x_NC, t, options.clipDenoised);
      const noise = F.tensor(draws.normal(x_NC.shape, 'diffusion p_sample noise'), x_NC.shape);
      return { ...out, sample: this.ddpmUpdate(out, t, noise, options.temperature) };
    });
  }

  /** μ + [t ≠ 0]·exp(½ logσ²)·n·temperature; a traced step passes the temperature as a tensor [1]. */
  private ddpmUpdate(out: MeanVariance, t: Steps, noise_NC: Tensor, temperature: number | Tensor): Tensor {
    const F = this.F;
    const nonzero = isTensor(t)
      ? F.reshape(F.cast(F.greater(t, 0), 'float32'), [t.shape[0], 1])
      : F.tensor(Float32Array.from(t, (i) => (i !== 0 ? 1 : 0)), [t.length, 1]);
    return F.add(out.mean, F.mul(F.mul(F.mul(nonzero, F.exp(F.mul(out.logVariance, 0.5))), noise_NC), temperature));
  }

  /**
   * One reverse step with every per-step value a tensor, the body of a traced sampling
   * step: `t_N` int32 steps, `noise_NC` the step's draw (unused by DDIM, which still
   * draws it), `temperature_1` [1]. Same arithmetic as `pSample` / `ddimSample`.
   */
  reverseStep(model: Denoiser, x_NC: Tensor, t_N: Tensor, noise_NC: Tensor, temperature_1: Tensor, clipDenoised: boolean, sampler: ReverseSampler): Tensor {
    const F = this.F;
    return F.tidy(() => {
      const out = this.pMeanVariance(model, x_NC, t_N, clipDenoised);
      return sampler === 'ddim' ? this.ddimUpdate(out, x_NC, t_N) : this.ddpmUpdate(out, t_N, noise_NC, temperature_1);
    });
  }

  /** One deterministic DDIM step (η = 0; the official draw is still made, then unused). */
  ddimSample(model: Denoiser, x_NC: Tensor, t: ArrayLike<number>, options: StepOptions, draws: DrawSource): MeanVariance & { modelOutput: Tensor; sample: Tensor } {
    const F = this.F;
    const s = this.schedule;
    return F.tidy(() => {
      const out = this.pMeanVariance(model, x_NC, t, options.clipDenoised);
      draws.normal(x_NC.shape, 'diffusion ddim noise');
      return { ...out, sample: this.ddimUpdate(out, x_NC, t) };
    });
  }

  private ddimUpdate(out: MeanVariance, x_NC: Tensor, t: Steps): Tensor {
    const F = this.F;
    const s = this.schedule;
    const eps = F.div(F.sub(F.mul(this.extract(s.sqrtRecipAlphasCumprod, t), x_NC), out.predXstart), this.extract(s.sqrtRecipm1AlphasCumprod, t));
    const sqrtPrev = this.extract(s.alphasCumprodPrev.map(Math.sqrt), t);
    const sqrtOneMinusPrev = this.extract(s.alphasCumprodPrev.map((a) => Math.sqrt(1 - a)), t);
    return F.add(F.mul(out.predXstart, sqrtPrev), F.mul(sqrtOneMinusPrev, eps));
  }

  /**
   * The reverse loop from x_T over steps S−1..0 (`p_sample_loop`). `onStep` sees x after
   * each step (k = 0 is the first, noisiest step).
   */
  sampleLoop(model: Denoiser, xT_NC: Tensor, options: StepOptions & { sampler: ReverseSampler; draws: DrawSource; onStep?: (k: number, x_NC: Tensor) => void }): Tensor {
    const F = this.F;
    const N = xT_NC.shape[0];
    let x = xT_NC;
    for (let i = this.numSteps - 1, k = 0; i >= 0; i--, k++) {
      const t = new Int32Array(N).fill(i);
      const next = F.tidy(() => {
        const step = options.sampler === 'ddim' ? this.ddimSample(model, x, t, options, options.draws) : this.pSample(model, x, t, options, options.draws);
        return step.sample;
      });
      if (x !== xT_NC) F.dispose(x);
      x = next;
      options.onStep?.(k, x);
    }
    return x === xT_NC ? F.tidy(() => F.add(x, 0)) : x;
  }

  /**
   * `training_losses` (loss type MSE): ε-MSE per row, plus the variational-bound term in
   * bits where the variance is learned, computed with ε̂ held constant so that term only
   * teaches the variance. At t = 0 the bound term is the discretised-Gaussian NLL of x0.
   */
  trainingLosses(model: Denoiser, x0_NC: Tensor, t: ArrayLike<number>, noise_NC: Tensor): TrainingTerms {
    const F = this.F;
    const C = x0_NC.shape[1];
    return F.tidy(() => {
      const xt = this.qSample(x0_NC, t, noise_NC);
      const out = model(xt, this.originalTimesteps(t));
      const [eps, v] = this.splitOutput(out, C);
      const mse = F.mean(F.square(F.sub(noise_NC, eps)), 1);
      if (!v) return { loss: mse, mse, xt };
      const vb = this.vbTermsBits(x0_NC, xt, t, F.stopGradient(eps), v);
      return { loss: F.add(mse, vb), mse, vb, xt };
    });
  }

  /** `_vb_terms_bpd` for a frozen model output: KL(q ‖ p) per row in bits, or the decoder NLL where t = 0. */
  private vbTermsBits(x0_NC: Tensor, xt_NC: Tensor, t: ArrayLike<number>, eps_NC: Tensor, v_NC: Tensor): Tensor {
    const F = this.F;
    const trueMean = this.qPosteriorMean(x0_NC, xt_NC, t);
    const trueLogVar = this.extract(this.schedule.posteriorLogVarianceClipped, t);
    const p = this.meanVariance(eps_NC, v_NC, xt_NC, t, false);
    const kl = normalKl(F, trueMean, trueLogVar, p.mean, p.logVariance);
    const klBits = F.div(F.mean(kl, 1), Math.LN2);
    const nll = F.neg(discretizedGaussianLogLikelihood(F, x0_NC, p.mean, F.mul(p.logVariance, 0.5)));
    const nllBits = F.div(F.mean(nll, 1), Math.LN2);
    const isFirst = F.equal(F.tensor(Int32Array.from(t), [t.length], 'int32'), 0);
    return F.where(isFirst, nllBits, klBits);
  }
}

/** KL(N(μ1, e^lv1) ‖ N(μ2, e^lv2)) elementwise, in nats. */
export function normalKl(F: Engine, mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor): Tensor {
  const sum = F.add(F.add(F.sub(F.add(logvar2, -1), logvar1), F.exp(F.sub(logvar1, logvar2))), F.mul(F.square(F.sub(mean1, mean2)), F.exp(F.neg(logvar2))));
  return F.mul(sum, 0.5);
}

/** 0.5·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the tanh approximation of Φ. */
function approxStandardNormalCdf(F: Engine, x: Tensor): Tensor {
  return F.mul(F.add(F.tanh(F.mul(F.add(x, F.mul(F.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1), 0.5);
}

/**
 * Log-likelihood of x under N(mean, e^(2·logScale)) discretised to bins of ±1/255, with
 * open-ended edge bins below −0.999 and above 0.999 (image data assumptions, kept as
 * official on latents: mar.md quirk 7).
 */
export function discretizedGaussianLogLikelihood(F: Engine, x: Tensor, means: Tensor, logScales: Tensor): Tensor {
  const centered = F.sub(x, means);
  const invStdv = F.exp(F.neg(logScales));
  const cdfPlus = approxStandardNormalCdf(F, F.mul(invStdv, F.add(centered, 1 / 255)));
  const cdfMin = approxStandardNormalCdf(F, F.mul(invStdv, F.sub(centered, 1 / 255)));
  const logCdfPlus = F.log(F.maximum(cdfPlus, 1e-12));
  const logOneMinusCdfMin = F.log(F.maximum(F.sub(1, cdfMin), 1e-12));
  const logCdfDelta = F.log(F.maximum(F.sub(cdfPlus, cdfMin), 1e-12));
  return F.where(F.less(x, -0.999), logCdfPlus, F.where(F.greater(x, 0.999), logOneMinusCdfMin, logCdfDelta));
}
