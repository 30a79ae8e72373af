/**
 * The `training` section of a generator config, validated by the trainer (the config
 * schema keeps it an open record). The optimiser settings come from a method preset —
 * the official recipe of VAR (spec/var.md §8.4: AdamW β (0.9, 0.95), weight decay 0.05
 * without decay on 1-D tensors and VAR's named embeddings, global-norm clip 2, linear
 * warm-up from 0.005 then VAR's `lin0` decay to `wpe`, no EMA), MAR (spec/mar.md §8.3:
 * AdamW β (0.9, 0.95), weight decay 0.02 on ≥2-D weights outside `diffloss`, clip 3,
 * linear warm-up from 0 over 100 of 400 epochs then constant, EMA 0.9999), FAR (far.md
 * §4: MAR's recipe) or HART (unreleased trainer: VAR's) — and any key given in the config
 * replaces the preset's value. Learning rates are per 256 images, as all three scale
 * them (`lr = base · batch / 256`).
 *
 * Tokenizer training (`--target tokenizer`) reads the nested `tokenizer` object with its
 * own preset (Adam β (0.5, 0.9) as taming-transformers' VQGAN and LDM's autoencoders,
 * constant rate, no decay): the reconstruction + VQ / KL loss of the tokenizer plugin.
 */
import { z } from 'zod';
import { TesseraError } from '../errors';
import { defaultedKeys, zodIssueError } from '../plugin/config';

export type MethodPreset = 'var' | 'mar' | 'far' | 'hart';
export type TrainingTarget = 'generator' | 'tokenizer';

const probability = z.number().min(0).lt(1);
const fraction = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();

/** The optimiser and schedule keys that a preset fills. */
const optimizerShape = {
  /** Peak learning rate per 256 images (`blr` / `tblr`); the rate used is `base · batch / 256`. */
  baseLearningRate: z.number().positive(),
  betas: z.tuple([probability, probability]),
  weightDecay: z.number().min(0),
  eps: z.number().positive(),
  /** After the warm-up: `constant` (MAR), `cosine` (to `finalFactor`), `linear` (VAR's `lin0`: flat for 5%, then linear to `finalFactor`). */
  schedule: z.enum(['constant', 'cosine', 'linear']),
  /** Share of the steps spent warming up linearly from `warmupStartFactor` to 1. */
  warmupFraction: fraction,
  warmupStartFactor: fraction,
  /** Learning-rate factor at the last step (VAR `wpe`; MAR cosine `min_lr / lr`). */
  finalFactor: fraction,
  /** Global-norm gradient clipping threshold; null: no clipping. */
  gradClip: z.number().positive().nullable(),
  /** EMA rate of the weights (`ema ← rate·ema + (1 − rate)·w`); null: no EMA. */
  ema: probability.nullable(),
  /** Parameters whose key contains one of these get no weight decay (1-D tensors never do). */
  noDecayNames: z.array(z.string()),
  /** Parameters whose key starts with one of these get no weight decay (MAR: `diffloss.`). */
  noDecayPrefixes: z.array(z.string()),
  /** Random horizontal flip of the training images (MAR/FAR on, VAR off). */
  flip: z.boolean(),
};

export type OptimizerSettings = { [K in keyof typeof optimizerShape]: z.output<(typeof optimizerShape)[K]> };

const VAR_NO_DECAY = ['cls_token', 'start_token', 'task_token', 'cfg_uncond', 'pos_embed', 'pos_1LC', 'pos_start', 'start_pos', 'lvl_embed', 'gamma', 'beta', 'ada_gss', 'moe_bias', 'scale_mul'];

const VAR_RECIPE: OptimizerSettings = {
  baseLearningRate: 1e-4, betas: [0.9, 0.95], weightDecay: 0.05, eps: 1e-8, schedule: 'linear', warmupFraction: 1 / 50,
  warmupStartFactor: 0.005, finalFactor: 0.1, gradClip: 2, ema: null, noDecayNames: VAR_NO_DECAY, noDecayPrefixes: [], flip: false,
};
const MAR_RECIPE: OptimizerSettings = {
  baseLearningRate: 1e-4, betas: [0.9, 0.95], weightDecay: 0.02, eps: 1e-8, schedule: 'constant', warmupFraction: 100 / 400,
  warmupStartFactor: 0, finalFactor: 0, gradClip: 3, ema: 0.9999, noDecayNames: [], noDecayPrefixes: ['diffloss.'], flip: true,
};
const TOKENIZER_RECIPE: OptimizerSettings = {
  baseLearningRate: 1e-3, betas: [0.5, 0.9], weightDecay: 0, eps: 1e-8, schedule: 'constant', warmupFraction: 0,
  warmupStartFactor: 0, finalFactor: 1, gradClip: null, ema: null, noDecayNames: [], noDecayPrefixes: [], flip: false,
};

export const METHOD_PRESETS: Readonly<Record<MethodPreset, OptimizerSettings>> = { var: VAR_RECIPE, hart: VAR_RECIPE, mar: MAR_RECIPE, far: MAR_RECIPE };

const optionalOptimizer = z.object(optimizerShape).partial();

const progressiveSchema = z.object({
  /** VAR `pg`: share of the steps after which all scales are trained. */
  fraction: z.number().gt(0).max(1),
  /** VAR `pg0`: the first trained stage (scales 0..startScale). */
  startScale: z.number().int().min(0).default(4),
  /** VAR `pgwp` as a share of the steps: how long a new scale's weight ramps from 0.01 to 1. */
  stageWarmupFraction: fraction.default(1 / 300),
}).strict();

export const trainingSectionSchema = optionalOptimizer.extend({
  /** The official recipe the optimiser keys default to; default: `var` for a categorical head, else `mar`. */
  preset: z.enum(['var', 'mar', 'far', 'hart']).optional(),
  steps: positiveInt.default(1000),
  batchSize: positiveInt.default(32),
  seed: z.number().int().min(0).default(0),
  /** How images are fitted to the tokenizer's resolution. */
  preprocess: z.enum(['center-crop', 'resize']).default('center-crop'),
  /**
   * Generator training from a latent cache (MAR `main_cache.py`): the data set is encoded
   * once (each image and its mirror when `flip` is on) into `<out>/latents.safetensors`,
   * and steps read the stored tokens instead of running the tokenizer.
   */
  cacheLatents: z.boolean().default(false),
  /** VAR's progressive training over scales (off by default, as in every published run). */
  progressive: progressiveSchema.nullable().default(null),
  logEvery: positiveInt.default(1),
  checkpointEvery: positiveInt.default(100),
  /** Checkpoints kept on disk (the newest ones). */
  keepCheckpoints: positiveInt.default(2),
  sampleEvery: positiveInt.default(100),
  /** Images in each sample grid (classes in turn). */
  sampleImages: positiveInt.default(16),
  /** Tokenizer training: steps and batch default to the generator's, the optimiser to the tokenizer recipe. */
  tokenizer: optionalOptimizer.extend({ steps: positiveInt.optional(), batchSize: positiveInt.optional() }).strict().default({}),
}).strict();

type Section = z.output<typeof trainingSectionSchema>;

/** Everything one training run needs, defaults and preset applied. */
export interface TrainingOptions extends OptimizerSettings {
  target: TrainingTarget;
  preset: MethodPreset | 'tokenizer';
  steps: number;
  batchSize: number;
  seed: number;
  preprocess: 'center-crop' | 'resize';
  cacheLatents: boolean;
  progressive: Section['progressive'];
  logEvery: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  sampleEvery: number;
  sampleImages: number;
}

export interface ResolvedTraining {
  options: TrainingOptions;
  /** Keys of the `training` section filled by defaults or the preset (dotted paths). */
  defaulted: string[];
}

export interface TrainingOverrides {
  steps?: number;
  batchSize?: number;
  seed?: number;
}

/**
 * Validates a config's `training` section and resolves it for `target`.
 * @example resolveTraining(config.training, 'generator', 'categorical', { steps: 200 })
 */
export function resolveTraining(raw: unknown, target: TrainingTarget, headName: string, overrides: TrainingOverrides = {}, source = 'config'): ResolvedTraining {
  const parsed = trainingSectionSchema.safeParse(raw ?? {});
  if (!parsed.success) throw zodIssueError(parsed.error, source, ['training'], 'trainer');
  const s = parsed.data;
  const defaulted = defaultedKeys(raw ?? {}, s).filter((k) => k !== 'tokenizer' || target === 'tokenizer');
  const preset: MethodPreset = s.preset ?? (headName === 'categorical' ? 'var' : 'mar');
  const given = (target === 'tokenizer' ? s.tokenizer : s) as Partial<OptimizerSettings>;
  const recipe = target === 'tokenizer' ? TOKENIZER_RECIPE : METHOD_PRESETS[preset];
  const optimizer = {} as Record<string, unknown>;
  for (const key of Object.keys(optimizerShape) as (keyof OptimizerSettings)[]) {
    const value = given[key];
    optimizer[key] = value ?? recipe[key];
    if (value === undefined) defaulted.push(target === 'tokenizer' ? `tokenizer.${key}` : key);
  }
  if (s.preset === undefined) defaulted.push('preset');
  const steps = overrides.steps ?? (target === 'tokenizer' ? s.tokenizer.steps : undefined) ?? s.steps;
  const batchSize = overrides.batchSize ?? (target === 'tokenizer' ? s.tokenizer.batchSize : undefined) ?? s.batchSize;
  for (const [name, v] of Object.entries({ steps, batchSize })) {
    if (!Number.isInteger(v) || v < 1) throw new TesseraError('USAGE', `\`${name}\` must be a positive integer, got ${v}`, { subject: 'trainer', data: { [name]: v } });
  }
  const options: TrainingOptions = {
    ...(optimizer as unknown as OptimizerSettings),
    target,
    preset: target === 'tokenizer' ? 'tokenizer' : preset,
    steps,
    batchSize,
    seed: overrides.seed ?? s.seed,
    preprocess: s.preprocess,
    cacheLatents: target === 'generator' && s.cacheLatents,
    progressive: target === 'tokenizer' ? null : s.progressive,
    logEvery: s.logEvery,
    checkpointEvery: s.checkpointEvery,
    keepCheckpoints: s.keepCheckpoints,
    sampleEvery: s.sampleEvery,
    sampleImages: s.sampleImages,
  };
  return { options, defaulted: [...new Set(defaulted)] };
}

/** The learning rate actually used: the per-256 base scaled by the batch. */
export function peakLearningRate(o: Pick<TrainingOptions, 'baseLearningRate' | 'batchSize'>): number {
  return (o.baseLearningRate * o.batchSize) / 256;
}
