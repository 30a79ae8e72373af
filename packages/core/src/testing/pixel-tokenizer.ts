/**
 * `tokenizer/conformance-pixels`: a parameter-free continuous tokenizer for tests. An
 * image [B, 3, H, W] becomes the latent [B, 3·p², H/p, W/p] of its p×p pixel patches
 * (space-to-depth, channel slowest), and back. It provides a latent pyramid (area down,
 * bicubic up), so directions that need `continuous` and `pyramid` tokens (raster,
 * masked, frequency, continuous next-scale) can be tested without a trained tokenizer.
 */
import { instanceCachingFactory } from 'tsyringe';
import { z } from 'zod';
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import { Module } from '../nn/module';
import type { ContinuousSpace, Tokens } from '../contracts/token-space';
import type { LatentPyramid, Tokenizer } from '../contracts/tokenizer';
import { ENGINE, TOKENIZER } from '../contracts/tokens';
import { TesseraError } from '../errors';
import { definePlugin } from '../plugin/define';

export const pixelTokenizerOptions = z.object({
  /** Image side in pixels. */
  resolution: z.number().int().positive().default(8),
  /** Pixels per token side. */
  patchSize: z.number().int().positive().default(2),
}).strict().refine((o) => o.resolution % o.patchSize === 0, { message: '`resolution` must be a multiple of `patchSize`', path: ['patchSize'] });

export type PixelTokenizerOptions = z.output<typeof pixelTokenizerOptions>;

class NoParameters extends Module {}

export class PixelTokenizer implements Tokenizer {
  readonly id = 'tokenizer/conformance-pixels';
  readonly space: ContinuousSpace;
  readonly resolution: [number, number];
  readonly module: Module;
  readonly pyramid: LatentPyramid;

  constructor(private readonly F: Engine, readonly options: PixelTokenizerOptions) {
    const side = options.resolution / options.patchSize;
    this.space = { kind: 'continuous', channels: 3 * options.patchSize ** 2, grid: [side, side] };
    this.resolution = [options.resolution, options.resolution];
    this.module = new NoParameters(F);
    this.pyramid = {
      down: (latent, size) => F.interpolate(latent, size, 'area'),
      up: (latent, size) => F.interpolate(latent, size, 'bicubic'),
    };
  }

  encode(images_BCHW: Tensor): Tokens {
    const F = this.F;
    const [B, C, H, W] = images_BCHW.shape;
    const p = this.options.patchSize;
    if (C !== 3 || H !== this.resolution[0] || W !== this.resolution[1]) {
      throw new TesseraError('SHAPE_MISMATCH', `expected images [B, 3, ${this.resolution}], got [${images_BCHW.shape}]`, { subject: this.id });
    }
    return {
      kind: 'continuous',
      latent: F.tidy(() => {
        const x6 = F.reshape(images_BCHW, [B, C, H / p, p, W / p, p]); // (B, C, h, p, w, q)
        const t6 = F.transpose(x6, [0, 1, 3, 5, 2, 4]); // (B, C, p, q, h, w)
        return F.reshape(t6, [B, C * p * p, H / p, W / p]);
      }),
    };
  }

  decode(tokens: Tokens): Tensor {
    const F = this.F;
    if (tokens.kind !== 'continuous') throw new TesseraError('SHAPE_MISMATCH', 'expected continuous tokens', { subject: this.id });
    const [B, , h, w] = tokens.latent.shape;
    const p = this.options.patchSize;
    return F.tidy(() => {
      const x6 = F.reshape(tokens.latent, [B, 3, p, p, h, w]); // (B, C, p, q, h, w)
      const t6 = F.transpose(x6, [0, 1, 4, 2, 5, 3]); // (B, C, h, p, w, q)
      return F.reshape(t6, [B, 3, h * p, w * p]);
    });
  }
}

/** The test tokenizer as a plugin, to pass as a direction suite's `tokenizer`. */
export const pixelTokenizer = definePlugin({
  name: 'conformance-pixels',
  kind: 'tokenizer',
  description: 'Pixel patches as continuous tokens, with a latent pyramid (a parameter-free test tokenizer of the conformance kit)',
  options: pixelTokenizerOptions,
  capabilities: { provides: ['continuous', 'pyramid'], requires: [] },
  register(container, options) {
    container.register(TOKENIZER, { useFactory: instanceCachingFactory((c) => new PixelTokenizer(c.resolve(ENGINE), options)) });
  },
});
