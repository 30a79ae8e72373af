/**
 * Options of the `diffusion` head. Defaults are MAR-B's DiffLoss (spec/mar.md §4.1, §5):
 * 16-channel tokens, a 768-wide condition, width 1024, depth 3 (`diffloss_w`, `diffloss_d`),
 * the 1000-step cosine diffusion with learned variance, 100 sampling steps and each token
 * repeated 4 times in the loss (`diffusion_batch_mul`). FAR adds `levelConditioning`;
 * HART uses `mode: 'residual'`, whose defaults follow hart.md §5 (8 steps, residual scaled
 * by 1/0.6, x̂0 clipped to [−1, 1], HART's guidance formula).
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

const optionsObject = z.object({
  /** Channels C of one token (the tokenizer's latent per position). */
  tokenDim: positiveInt.default(16),
  /** Channels of the condition vector the backbone gives per token. */
  zChannels: positiveInt.default(768),
  /** Hidden width of the denoiser MLP. */
  width: positiveInt.default(1024),
  /** Residual AdaLN blocks of the denoiser. */
  depth: positiveInt.default(3),
  /** `token`: model whole continuous tokens (MAR/FAR); `residual`: the continuous remainder after the discrete tokens (HART). */
  mode: z.enum(['token', 'residual']).default('token'),
  /** Respacing of the sampling diffusion (`"100"`, `"ddim25"`, `"20,5"`); default "100", or "8" in residual mode. The sampler's `diffusionSteps` overrides it. */
  numSamplingSteps: z.string().optional(),
  /** Steps of the training diffusion. */
  trainingSteps: z.number().int().min(2).default(1000),
  noiseSchedule: z.enum(['cosine', 'linear']).default('cosine'),
  /** Learn the variance (2C outputs, VLB term in the loss) instead of the fixed large variance. */
  learnSigma: z.boolean().default(true),
  /** Times each token is repeated (with its own t and noise) in the loss (`diffusion_batch_mul`). */
  batchMultiplier: positiveInt.default(4),
  /** Reverse step: ancestral DDPM (official) or deterministic DDIM (η = 0; temperature unused). */
  sampler: z.enum(['ddpm', 'ddim']).default('ddpm'),
  /** Clip the x̂0 prediction to [−1, 1] while sampling; default off, on in residual mode. */
  clipDenoised: z.boolean().optional(),
  /** Float32 order of the CFG mix s·ε_c − (s−1)·ε_u: MAR/FAR `uncond-plus-scaled-difference`, HART `cond-plus-scaled-difference` (default by mode). */
  guidanceFormula: z.enum(['uncond-plus-scaled-difference', 'cond-plus-scaled-difference']).optional(),
  /** Residual mode: the diffusion runs on residual / residualScale; samples are multiplied back. */
  residualScale: z.number().positive().default(0.6),
  /**
   * FAR-style per-level step counts (see frequency-steps.ts); null keeps one respacing for all
   * levels (official). Counts are at least 2: the clipped posterior log-variance reads a
   * respaced schedule's second step.
   */
  frequencyAwareSteps: z.object({
    levels: z.number().int().min(1),
    lowestLevelSteps: z.number().int().min(2),
    highestLevelSteps: z.number().int().min(2),
  }).strict().nullable().default(null),
  /** FAR: condition the denoiser on the rows' frequency level (`index_cond_embed`). */
  levelConditioning: z.boolean().default(false),
  /** FAR: rows are always [conditional; unconditional] and guided, even at cfg 1 (far.md Q5). */
  alwaysGuided: z.boolean().default(false),
}).strict();

/** Options with the mode-dependent defaults filled in, keys in schema order (so parsing twice is a no-op). */
export const diffusionHeadOptionsSchema = optionsObject.transform((o) => ({
  tokenDim: o.tokenDim,
  zChannels: o.zChannels,
  width: o.width,
  depth: o.depth,
  mode: o.mode,
  numSamplingSteps: o.numSamplingSteps ?? (o.mode === 'residual' ? '8' : '100'),
  trainingSteps: o.trainingSteps,
  noiseSchedule: o.noiseSchedule,
  learnSigma: o.learnSigma,
  batchMultiplier: o.batchMultiplier,
  sampler: o.sampler,
  clipDenoised: o.clipDenoised ?? o.mode === 'residual',
  guidanceFormula: o.guidanceFormula ?? (o.mode === 'residual' ? 'cond-plus-scaled-difference' as const : 'uncond-plus-scaled-difference' as const),
  residualScale: o.residualScale,
  frequencyAwareSteps: o.frequencyAwareSteps,
  levelConditioning: o.levelConditioning,
  alwaysGuided: o.alwaysGuided,
}) satisfies { [K in keyof z.output<typeof optionsObject>]-?: unknown });

export type DiffusionHeadOptions = z.output<typeof diffusionHeadOptionsSchema>;
export type DiffusionHeadOptionsInput = z.input<typeof diffusionHeadOptionsSchema>;
