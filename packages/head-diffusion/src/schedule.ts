/**
 * Noise schedules and the coefficient tables of a (respaced) Gaussian diffusion, all in
 * float64 as the official numpy code computes them (mar.md §5.2-5.3; LTH14/mar
 * `diffusion/gaussian_diffusion.py` `get_named_beta_schedule`, `GaussianDiffusion.__init__`
 * and `diffusion/respace.py` `SpacedDiffusion`). The tensor code reads these tables one
 * row per sample and casts to float32 only at that lookup (`_extract_into_tensor`).
 */
import { TesseraError } from '@tessera/core';
import { spaceTimesteps } from './respacing';

export type NoiseSchedule = 'cosine' | 'linear';

/** np.linspace(start, stop, n) as numpy computes it (step multiply, exact last value). */
function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

/** The un-respaced β schedule of `numTimesteps` steps. */
export function namedBetaSchedule(name: NoiseSchedule, numTimesteps: number): Float64Array {
  if (name === 'linear') {
    // Ho et al.'s schedule, stretched so any step count spans the same range.
    const scale = 1000 / numTimesteps;
    return linspace(scale * 0.0001, scale * 0.02, numTimesteps);
  }
  if (name === 'cosine') {
    const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
    const betas = new Float64Array(numTimesteps);
    for (let i = 0; i < numTimesteps; i++) {
      const t1 = i / numTimesteps;
      const t2 = (i + 1) / numTimesteps;
      betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), 0.999);
    }
    return betas;
  }
  throw new TesseraError('CONFIG_INVALID', `noise schedule \`${String(name)}\` is unknown; expected \`cosine\` or \`linear\``, { subject: 'head/diffusion', data: { name } });
}

const map = (a: Float64Array, f: (v: number, i: number) => number): Float64Array => Float64Array.from(a, f);

/** Every float64 table of one Gaussian diffusion, named as the official attributes. */
export class DiffusionSchedule {
  readonly numTimesteps: number;
  readonly alphasCumprod: Float64Array;
  readonly alphasCumprodPrev: Float64Array;
  readonly alphasCumprodNext: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  readonly logOneMinusAlphasCumprod: Float64Array;
  readonly sqrtRecipAlphasCumprod: Float64Array;
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  readonly posteriorVariance: Float64Array;
  /** log σ̃², entry 0 borrowing entry 1 (σ̃²_0 = 0); empty when T = 1. */
  readonly posteriorLogVarianceClipped: Float64Array;
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
  /** log β, the LEARNED_RANGE upper log-variance. */
  readonly logBetas: Float64Array;
  /** FIXED_LARGE variance: [σ̃²_1, β_1, β_2, ...]. */
  readonly fixedLargeVariance: Float64Array;

  /**
   * @param betas the (respaced) β per step
   * @param timestepMap the original step each step stands for (what the network sees)
   * @param baseBetas the un-respaced schedule these were derived from
   */
  constructor(readonly betas: Float64Array, readonly timestepMap: Int32Array, readonly baseBetas: Float64Array) {
    const T = betas.length;
    this.numTimesteps = T;
    const alphas = map(betas, (b) => 1 - b);
    const acp = new Float64Array(T);
    let running = 1;
    for (let i = 0; i < T; i++) acp[i] = running = i === 0 ? alphas[0] : running * alphas[i];
    this.alphasCumprod = acp;
    this.alphasCumprodPrev = map(acp, (_, i) => (i === 0 ? 1 : acp[i - 1]));
    this.alphasCumprodNext = map(acp, (_, i) => (i === T - 1 ? 0 : acp[i + 1]));
    this.sqrtAlphasCumprod = map(acp, Math.sqrt);
    this.sqrtOneMinusAlphasCumprod = map(acp, (a) => Math.sqrt(1 - a));
    this.logOneMinusAlphasCumprod = map(acp, (a) => Math.log(1 - a));
    this.sqrtRecipAlphasCumprod = map(acp, (a) => Math.sqrt(1 / a));
    this.sqrtRecipm1AlphasCumprod = map(acp, (a) => Math.sqrt(1 / a - 1));
    const prev = this.alphasCumprodPrev;
    this.posteriorVariance = map(betas, (b, i) => (b * (1 - prev[i])) / (1 - acp[i]));
    const pv = this.posteriorVariance;
    this.posteriorLogVarianceClipped = T > 1 ? map(pv, (v, i) => Math.log(i === 0 ? pv[1] : v)) : new Float64Array(0);
    this.posteriorMeanCoef1 = map(betas, (b, i) => (b * Math.sqrt(prev[i])) / (1 - acp[i]));
    this.posteriorMeanCoef2 = map(alphas, (a, i) => ((1 - prev[i]) * Math.sqrt(a)) / (1 - acp[i]));
    this.logBetas = map(betas, Math.log);
    this.fixedLargeVariance = map(betas, (b, i) => (i === 0 ? (T > 1 ? pv[1] : b) : b));
  }

  /**
   * The diffusion of `numTimesteps` training steps respaced by `spec` (`""` = all steps):
   * kept steps get β' = 1 − ᾱ_i / ᾱ_(previous kept).
   */
  static create(options: { noiseSchedule: NoiseSchedule; numTimesteps: number; respacing: string }): DiffusionSchedule {
    const base = namedBetaSchedule(options.noiseSchedule, options.numTimesteps);
    const baseAcp = new DiffusionSchedule(base, Int32Array.from(base, (_, i) => i), base).alphasCumprod;
    const kept = new Set(spaceTimesteps(options.numTimesteps, options.respacing));
    const newBetas: number[] = [];
    const timestepMap: number[] = [];
    let last = 1;
    for (let i = 0; i < baseAcp.length; i++) {
      if (!kept.has(i)) continue;
      newBetas.push(1 - baseAcp[i] / last);
      last = baseAcp[i];
      timestepMap.push(i);
    }
    return new DiffusionSchedule(Float64Array.from(newBetas), Int32Array.from(timestepMap), base);
  }
}
