/**
 * Options of the `msvq` tokenizer: the official `VQVAE` / `HARTAutoEncoder` constructor
 * arguments (spec/var.md §4, spec/hart.md §2.2) in camelCase, plus the encoder/decoder
 * shape the official VQVAE hard-codes (chMult, numResBlocks) and the training-loss weights.
 * Defaults are the released 256 px VAR VQVAE.
 */
import { z } from 'zod';
import type { PhiSharing } from './phi';
import { phiSharing } from './phi';

const positiveInt = z.number().int().positive();

export const msvqOptionsSchema = z
  .object({
    /** Codebook size V. */
    vocabSize: z.number().int().min(2).default(4096),
    /** Latent and code-vector width Cvae. */
    zChannels: positiveInt.default(32),
    /** Base width of the encoder/decoder (`ch`; 160 in the released VQVAE). */
    ch: positiveInt.default(160),
    /** Width multiplier per level; len − 1 halvings of the resolution. */
    chMult: z.array(positiveInt).min(1).default([1, 1, 2, 2, 4]),
    numResBlocks: positiveInt.default(2),
    /** Accepted for parity with the official arguments; every released model uses 0 and it is not applied. */
    dropout: z.number().min(0).max(1).default(0),
    usingSelfAttention: z.boolean().default(true),
    usingMidSelfAttention: z.boolean().default(true),
    /** Token-map sides per scale, strictly increasing; the last equals the latent side. */
    patchNums: z.array(positiveInt).min(1).default([1, 2, 3, 4, 5, 6, 8, 10, 13, 16])
      .refine((p) => p.every((v, i) => i === 0 || v > p[i - 1]), { message: 'must be strictly increasing' }),
    /** φ mixing ratio r in (1 − r)·h + r·conv(h); |r| <= 1e-6 disables φ. */
    quantResi: z.number().default(0.5),
    /** 0: one φ per scale (non-shared); 1: a single shared φ; K >= 2: K partially shared φ's. */
    shareQuantResi: z.number().int().min(0).default(4),
    /** φ count of the non-shared mode (shareQuantResi = 0); default one per scale. */
    defaultQresiCounts: positiveInt.optional(),
    /** Cosine code search (VAR's using_znorm). */
    usingZnorm: z.boolean().default(false),
    /** Commitment weight β of the VQ loss. */
    beta: z.number().min(0).default(0.25),
    quantConvKernelSize: positiveInt.default(3).refine((k) => k % 2 === 1, { message: 'must be odd' }),
    /** HART hybrid tokens: discrete scales plus the continuous residual. */
    hybrid: z.boolean().default(false),
    /** Image side in pixels; must equal the last patch side × 2^(len(chMult) − 1). */
    resolution: positiveInt.default(256),
    /** Hybrid training: probability of decoding without the continuous residual. */
    skipContinuousProbability: z.number().min(0).max(1).default(0.5),
    /** Weights of the reconstruction terms of `trainingLoss`. */
    reconstructionL2Weight: z.number().min(0).default(1),
    reconstructionL1Weight: z.number().min(0).default(0),
  })
  .strict()
  .superRefine((o, ctx) => {
    const latent = o.patchNums[o.patchNums.length - 1];
    const factor = 2 ** (o.chMult.length - 1);
    if (latent * factor !== o.resolution) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['resolution'], message: `must equal the last patchNums entry (${latent}) × 2^(len(chMult) − 1) = ${latent * factor}` });
    }
    for (const m of o.chMult) {
      if ((o.ch * m) % 32 !== 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['ch'], message: `ch × chMult entries must be multiples of 32 (GroupNorm has 32 groups); ${o.ch} × ${m} is not` });
    }
  });

export type MsvqOptions = z.output<typeof msvqOptionsSchema>;

/** The sharing mode the options select. */
export function sharingOf(o: Pick<MsvqOptions, 'shareQuantResi' | 'defaultQresiCounts' | 'patchNums'>): PhiSharing {
  return phiSharing(o.shareQuantResi, o.defaultQresiCounts ?? 0, o.patchNums.length);
}
