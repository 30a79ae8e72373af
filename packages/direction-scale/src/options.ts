/**
 * Options of direction `scale` (next-scale prediction, VAR / HART). Defaults are VAR's:
 * the scale list comes from the tokenizer's multi-scale quantizer, guidance at the last
 * scale uses its own ratio, and the sampler's top-k applies at every scale. HART presets
 * set `lastScaleGuidance: 'previous'` and `hartTopK: true` (spec/hart.md quirks Q2, Q3),
 * and train with `lastScaleMasking: true` (§4.7).
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const scaleDirectionOptions = z.object({
  /**
   * Side of each scale's token map, coarsest first. Absent: the tokenizer's own list
   * (`multiScale.patchNums`); required with a continuous (`pyramid`) tokenizer, whose
   * last entry must equal its latent side.
   */
  patchNums: z.array(positiveInt).nonempty()
    .refine((p) => p.every((v, i) => i === 0 || v > p[i - 1]), { message: 'must be strictly increasing' })
    .optional(),
  /**
   * Which step ratio the last scale's guidance (and Gumbel smoothing) uses: `own`
   * (VAR, k/(K−1) = 1) or `previous` (HART keeps (K−2)/(K−1), quirk Q2).
   */
  lastScaleGuidance: z.enum(['own', 'previous']).default('own'),
  /**
   * HART's hard-coded top-k (600 before scale 7, 300 from it; at most the vocabulary),
   * which replaces the sampler's `topK` (quirk Q3).
   */
  hartTopK: z.boolean().default(false),
  /**
   * HART training: mask a random share of the last scale MAR-style (a truncated-normal
   * rate on [0.5, 1], at most N − 32 positions, spec/hart.md §4.7) and train on the rest.
   * HART presets turn it on; off, every position is trained (VAR).
   */
  lastScaleMasking: z.boolean().default(false),
}).strict();

export type ScaleDirectionOptions = z.output<typeof scaleDirectionOptions>;
