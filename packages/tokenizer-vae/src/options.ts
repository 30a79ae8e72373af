/**
 * Options of the `vae` tokenizer. Defaults are the released KL-16 autoencoder of MAR and
 * FAR (`kl16.ckpt`, spec/mar.md §2): the official `AutoencoderKL(embed_dim=16,
 * ch_mult=(1, 1, 2, 2, 4))` with its hard-coded inner settings made configurable, the
 * 0.2325 latent scale of the MAR/FAR training and sampling code, and the loss weights of
 * LDM's KL autoencoder training (L1 reconstruction, KL weight 1e-6).
 */
import { z } from 'zod';
import type { AutoencoderConfig } from './autoencoder';

const positiveInt = z.number().int().positive();

export const vaeOptionsSchema = z.object({
  /** Latent channels per position (`embed_dim`). */
  embedDim: positiveInt.default(16),
  /** Width of the first level (`ch`). */
  baseChannels: positiveInt.default(128),
  /** Width multiplier per level (`ch_mult`); the latent stride is 2^(levels − 1). */
  channelMultipliers: z.array(positiveInt).min(1).default([1, 1, 2, 2, 4]),
  /** ResnetBlocks per encoder level (`num_res_blocks`); each decoder level has one more. */
  resBlocksPerLevel: positiveInt.default(2),
  /** Nominal resolutions at which encoder levels add attention (`attn_resolutions`). */
  encoderAttentionResolutions: z.array(positiveInt).default([16]),
  /** Nominal resolutions at which decoder levels add attention (none in the official model). */
  decoderAttentionResolutions: z.array(positiveInt).default([]),
  /** Image size (square) the tokenizer expects; also places the attention blocks. */
  resolution: positiveInt.default(256),
  /** `use_variational`: the encoder predicts a log-variance too. */
  variational: z.boolean().default(true),
  /** Latents are multiplied by this after encoding and divided by it before decoding. */
  scaleFactor: z.number().positive().default(0.2325),
  /** Encode to a posterior sample (as MAR/FAR training does) instead of the posterior mean. */
  sampleLatents: z.boolean().default(true),
  /** Weight of the L1 reconstruction term of `trainingLoss` (per-image sum, batch mean). */
  l1Weight: z.number().nonnegative().default(1),
  /** Weight of the squared-error reconstruction term. */
  l2Weight: z.number().nonnegative().default(0),
  /** Weight of KL(q(z|x) ‖ N(0, I)). */
  klWeight: z.number().nonnegative().default(1e-6),
}).strict();

export type VaeOptions = z.output<typeof vaeOptionsSchema>;

/** The autoencoder's constructor arguments from parsed options. */
export function autoencoderConfig(o: VaeOptions): AutoencoderConfig {
  return {
    embedDim: o.embedDim,
    baseChannels: o.baseChannels,
    channelMultipliers: [...o.channelMultipliers],
    resBlocksPerLevel: o.resBlocksPerLevel,
    encoderAttentionResolutions: [...o.encoderAttentionResolutions],
    decoderAttentionResolutions: [...o.decoderAttentionResolutions],
    resolution: o.resolution,
    variational: o.variational,
    imageChannels: 3,
  };
}
