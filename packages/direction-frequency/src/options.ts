/**
 * Options of the `frequency` direction. Defaults are FAR's released configuration
 * (spec/far.md §2-3): no masking (`main_far.py` without `--mask`), the level list and
 * temperature schedule of `sample_tokens_nomask`, always-guided sampling, and the
 * frequency-aware loss weight off (the official flag crashes, far.md Q3; here it works).
 * With `masking: true` the defaults become those of `sample_tokens_mask`.
 */
import { z } from 'zod';

/** `FAR.sample_tokens_nomask`'s levels (far.md §1). */
export const NOMASK_LEVELS: readonly number[] = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10];
/** `FAR.sample_tokens_mask`'s levels, irregular as released (far.md Q6). */
export const MASK_LEVELS: readonly number[] = [0, 12, 12, 4, 5, 6, 7, 8, 9, 10, 11];

const level = z.number().int().min(0);

export const frequencyDirectionOptionsSchema = z.object({
  /** FAR's `--mask`: training also hides a random subset of tokens, and sampling unmasks them over the steps. */
  masking: z.boolean().default(false),
  /** Low-pass level of the input at each sampling step (one AR step per entry); default: the official list of the chosen sampler. */
  levels: z.array(level).min(1).optional(),
  /** Per-step temperature: `cosine` 0.8 → temperature (nomask), `linear` 0.85 → temperature (mask), or `constant`; default by sampler. */
  temperatureSchedule: z.enum(['cosine', 'linear', 'constant']).optional(),
  /** Always sample [conditional; null-class] rows with guidance, even at cfg 1 (as released, far.md Q5). */
  alwaysGuided: z.boolean().default(true),
  /** Scale the loss by `1 + sin(π/2·(k+1)/H)` for a batch at level k (the paper's frequency-aware weight). */
  lossWeight: z.boolean().default(false),
  /** Masking: the training mask ratio is N(1, 0.25²) truncated to [maskRatioMin·k/maskRatioLevelScale, 1]. */
  maskRatioMin: z.number().min(0).lt(1).default(0.7),
  /** The divisor of that bound; the official code uses 16 whatever the grid. */
  maskRatioLevelScale: z.number().positive().default(16),
  /** Latent pixels per token side (`patch_size`); must match the backbone's. */
  patchSize: z.number().int().positive().default(1),
}).strict().transform((o) => ({
  ...o,
  levels: o.levels ?? [...(o.masking ? MASK_LEVELS : NOMASK_LEVELS)],
  temperatureSchedule: o.temperatureSchedule ?? (o.masking ? 'linear' as const : 'cosine' as const),
}));

export type FrequencyDirectionOptions = z.output<typeof frequencyDirectionOptionsSchema>;
export type FrequencyDirectionOptionsInput = z.input<typeof frequencyDirectionOptionsSchema>;
