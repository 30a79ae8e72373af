/**
 * Options of the `adaln` backbone (VAR's decoder-only AdaLN transformer, and HART's
 * llama variant of it). Names spell out what VAR's constructor abbreviates
 * (`shared_aln` -> `sharedAdaLN`, `Cvae` -> `vocabEmbedDim`); every value has a default
 * taken from VAR-d16 (spec/var.md §5.1) so a preset only states what differs.
 */
import { z } from 'zod';

export const adalnOptionsSchema = z.object({
  /** `var`: LayerNorm, GELU-tanh MLP, learned absolute positions; `hart`: RMSNorm, SwiGLU, 2-D RoPE, sinusoidal level embedding. */
  variant: z.enum(['var', 'hart']).default('var'),
  /** Number of AdaLN blocks. */
  depth: z.number().int().positive().default(16),
  /** Transformer width C (VAR's `embed_dim`; the factory uses 64 per block). */
  embedDim: z.number().int().positive().default(1024),
  numHeads: z.number().int().positive().default(16),
  mlpRatio: z.number().positive().default(4),
  normEps: z.number().positive().default(1e-6),
  /** One AdaLN projection for all blocks plus a learned per-block offset (VAR-d36). VAR variant only. */
  sharedAdaLN: z.boolean().default(false),
  /** Cosine attention: L2-normalised q and k with a learned, clamped per-head scale. */
  attnL2Norm: z.boolean().default(true),
  /** Number of classes; label `classes` is the null (unconditional) class. */
  classes: z.number().int().positive().default(1000),
  /** Probability of replacing a label by the null class in training (`AdalnBackbone.dropLabels`, called by the trainer). */
  condDropRate: z.number().min(0).max(1).default(0.1),
  /** Side of each scale's token map, coarsest first (fixes L and the position tables). */
  patchNums: z.array(z.number().int().positive()).nonempty().default([1, 2, 3, 4, 5, 6, 8, 10, 13, 16]),
  /** Width of one token's input feature (the tokenizer's code dimension, VAR's `Cvae`). */
  vocabEmbedDim: z.number().int().positive().default(32),
  /** HART: how the AdaLN condition pools the context tokens. */
  contextPooling: z.enum(['avg', 'max']).default('avg'),
  /**
   * HART: what conditions the model. `class`: Tessera's class-conditional form, one
   * `class_emb` context token per label. `context`: the released text-to-image form,
   * `contextTokens` precomputed text features of `contextDim` each through `context_embed`
   * (spec/hart.md §2.3, §4.2), given per sample with `BackboneInput.context`.
   */
  conditioning: z.enum(['class', 'context']).default('class'),
  /** HART `context`: tokens per sample (the official `context_token`, 300 for the released model). */
  contextTokens: z.number().int().positive().default(300),
  /** HART `context`: width of one context feature (Qwen2-1.5B's hidden size 1536). */
  contextDim: z.number().int().positive().default(1536),
  /** HART `context`: an RMSNorm `context_norm` before `context_embed` (`use_context_norm`). */
  contextNorm: z.boolean().default(false),
  /** HART: level embedding = sinusoid -> MLP (true) or a table (false). */
  timestepLevelEmbed: z.boolean().default(true),
}).strict();

export type AdalnOptions = z.output<typeof adalnOptionsSchema>;
