/**
 * Options of the `mae` backbone: the MAR/FAR constructor arguments (spec/mar.md §4.1,
 * spec/far.md §2) in camelCase. Defaults are the official constructor's, except the
 * norm eps, which every official factory sets to 1e-6. FAR's `class_emb` always has
 * 1000 rows, so a FAR config sets `classNum: 1000` whatever its dataset.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const probability = z.number().min(0).lt(1);

export const maeOptionsSchema = z
  .object({
    imgSize: positiveInt.default(256).describe('image side in pixels'),
    vaeStride: positiveInt.default(16).describe('tokenizer stride (image pixels per latent pixel)'),
    patchSize: positiveInt.default(1).describe('latent pixels per token side'),
    vaeEmbedDim: positiveInt.default(16).describe('latent channels; a token has vaeEmbedDim·patchSize² values'),
    encoderEmbedDim: positiveInt.default(1024),
    encoderDepth: z.number().int().min(0).default(16),
    encoderNumHeads: positiveInt.default(16),
    decoderEmbedDim: positiveInt.default(1024),
    decoderDepth: z.number().int().min(0).default(16),
    decoderNumHeads: positiveInt.default(16),
    mlpRatio: z.number().positive().default(4),
    normEps: z.number().positive().default(1e-6).describe('LayerNorm eps of the blocks and the final norms'),
    classNum: positiveInt.default(1000).describe('rows of `class_emb`; label `classNum` is the null class (`fake_latent`)'),
    bufferSize: z.number().int().min(0).default(64).describe('class-condition buffer tokens before the sequence'),
    labelDropProb: probability.default(0.1).describe('training probability of replacing the class by the null class'),
    attnDropout: probability.default(0.1),
    projDropout: probability.default(0.1),
  })
  .strict()
  .superRefine((o, ctx) => {
    const grid = o.vaeStride * o.patchSize;
    if (o.imgSize % grid !== 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['imgSize'], message: `imgSize ${o.imgSize} must be a multiple of vaeStride·patchSize = ${grid}` });
    }
    for (const part of ['encoder', 'decoder'] as const) {
      const dim = o[`${part}EmbedDim`], heads = o[`${part}NumHeads`];
      if (dim % heads !== 0) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [`${part}NumHeads`], message: `${part}EmbedDim ${dim} must be divisible by ${part}NumHeads ${heads}` });
      }
    }
  });

export type MaeOptions = z.output<typeof maeOptionsSchema>;
