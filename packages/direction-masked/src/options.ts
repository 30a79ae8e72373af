/**
 * Options of the `masked` direction. Defaults are MAR's (spec/mar.md §4.1, §6): the
 * truncated-normal training mask ratio on [0.7, 1], one latent pixel per token, and the
 * 64 iterations of `sample_tokens`' signature (the released evaluation uses 256).
 */
import { z } from 'zod';

export const maskedDirectionOptionsSchema = z.object({
  /** Sampling iterations (`num_iter`): the cosine schedule unmasks all tokens in this many steps. */
  numIterations: z.number().int().positive().default(64),
  /** Lower end of the training mask ratio (truncated N(1, 0.25²) on [maskRatioMin, 1]). */
  maskRatioMin: z.number().min(0).lt(1).default(0.7),
  /** Latent pixels per token side (`patch_size`); must match the backbone's. Continuous tokens only. */
  patchSize: z.number().int().positive().default(1),
}).strict();

export type MaskedDirectionOptions = z.output<typeof maskedDirectionOptionsSchema>;
export type MaskedDirectionOptionsInput = z.input<typeof maskedDirectionOptionsSchema>;
