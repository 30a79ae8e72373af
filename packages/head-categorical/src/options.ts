/** The options of head `categorical`, a strict zod schema with its defaults inside. */
import { z } from 'zod';

export const categoricalHeadOptions = z.object({
  /** Hidden size D of the backbone output (and of the condition vector). VAR-d16: 1024. */
  width: z.number().int().positive().default(1024),
  /** Codebook size V. VAR's released tokenizer: 4096. */
  vocab: z.number().int().min(2).default(4096),
  /** VAR's `AdaLNBeforeHead` (scale and shift from the condition); false = a plain affine norm then the projection. */
  adaLN: z.boolean().default(true),
  /** `layer`: LayerNorm (VAR); `rms`: RMSNorm with a learnt weight (HART). */
  norm: z.enum(['layer', 'rms']).default('layer'),
  normEps: z.number().positive().default(1e-6),
  /** Label smoothing ε of the training cross-entropy (VAR `--ls`, default 0). */
  labelSmoothing: z.number().min(0).lt(1).default(0),
  /** Sampling defaults, used where a sampling call leaves the setting out. */
  temperature: z.number().positive().default(1),
  topK: z.number().int().positive().nullable().default(null),
  topP: z.number().gt(0).max(1).nullable().default(null),
  /**
   * HART: a head for the continuous residual the discrete tokens leave, composed into this
   * one (one configured head slot), named like a config slot: `{ use: 'diffusion',
   * options: { mode: 'residual', ... } }`. Its parameters live under `diffloss.*`.
   */
  residual: z.object({
    use: z.string().min(1),
    options: z.record(z.unknown()).default({}),
  }).strict().nullable().default(null),
  /**
   * HART training with `residual`: the last-scale tokens that condition the residual head
   * are drawn from this head's logits with these filters (official: top-k 600, top-p 0.96;
   * a top-k above `vocab` uses the ground-truth tokens instead, as the official fallback).
   */
  residualTraining: z.object({
    topK: z.number().int().positive().default(600),
    topP: z.number().gt(0).max(1).default(0.96),
  }).strict().default({}),
}).strict();

export type CategoricalHeadOptions = z.output<typeof categoricalHeadOptions>;
