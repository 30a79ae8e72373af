/**
 * Scaffold of a tokenizer plugin: p×p pixel patches projected to a few continuous
 * channels by a learned linear map (a 1×1 convolution on the space-to-depth image) and
 * projected back, with a latent pyramid, so it serves the continuous directions.
 */
import { TemplateVars, fill } from './common';

const TOKENIZER = String.raw`/**
 * Tokenizer '__name__': an image [B, 3, H, W] is cut into p x p pixel patches
 * (space-to-depth: [B, 3*p*p, H/p, W/p]) and each patch is projected to 'channels'
 * continuous values by a learned linear map (a 1x1 convolution); decoding projects back
 * and puts the pixels in place. 'trainingLoss' is the reconstruction MSE. The latent
 * pyramid (area down, bicubic up) lets multi-scale and frequency directions use it.
 */
import { Conv2d, Module, TesseraError } from '@tessera/core';
import type { ContinuousSpace, DrawSource, Engine, LatentPyramid, Tensor, Tokenizer, Tokens } from '@tessera/core';
import type { __Name__TokenizerOptions } from './options';

const SUBJECT = 'tokenizer/__name__';

export class __Name__Network extends Module {
  readonly encoder: Conv2d;
  readonly decoder: Conv2d;

  constructor(F: Engine, options: __Name__TokenizerOptions) {
    super(F);
    const patch = 3 * options.patchSize * options.patchSize;
    this.encoder = this.child('encoder', new Conv2d(F, patch, options.channels, 1));
    this.decoder = this.child('decoder', new Conv2d(F, options.channels, patch, 1));
  }
}

export class __Name__Tokenizer implements Tokenizer {
  readonly id = SUBJECT;
  readonly space: ContinuousSpace;
  readonly resolution: [number, number];
  readonly module: __Name__Network;
  readonly pyramid: LatentPyramid;

  constructor(private readonly F: Engine, readonly options: __Name__TokenizerOptions) {
    const side = options.resolution / options.patchSize;
    this.space = { kind: 'continuous', channels: options.channels, grid: [side, side] };
    this.resolution = [options.resolution, options.resolution];
    this.module = new __Name__Network(F, options);
    this.pyramid = {
      down: (latent, size) => F.interpolate(latent, size, 'area'),
      up: (latent, size) => F.interpolate(latent, size, 'bicubic'),
    };
  }

  /** [B, 3, H, W] -> [B, 3*p*p, H/p, W/p] */
  private toPatches(images_BCHW: Tensor): Tensor {
    const F = this.F;
    const [B, C, H, W] = images_BCHW.shape;
    const p = this.options.patchSize;
    if (C !== 3 || H !== this.resolution[0] || W !== this.resolution[1]) {
      throw new TesseraError('SHAPE_MISMATCH', 'expected images [B, 3, ' + this.resolution.join(', ') + '], got [' + images_BCHW.shape.join(', ') + ']', { subject: SUBJECT });
    }
    const x6 = F.reshape(images_BCHW, [B, C, H / p, p, W / p, p]); // (B, C, h, p, w, q)
    return F.reshape(F.transpose(x6, [0, 1, 3, 5, 2, 4]), [B, C * p * p, H / p, W / p]); // (B, C, p, q, h, w) -> (B, Cpq, h, w)
  }

  /** [B, 3*p*p, h, w] -> [B, 3, h*p, w*p] */
  private fromPatches(patches_BPhw: Tensor): Tensor {
    const F = this.F;
    const [B, , h, w] = patches_BPhw.shape;
    const p = this.options.patchSize;
    const x6 = F.reshape(patches_BPhw, [B, 3, p, p, h, w]); // (B, C, p, q, h, w)
    return F.reshape(F.transpose(x6, [0, 1, 4, 2, 5, 3]), [B, 3, h * p, w * p]); // (B, C, h, p, w, q) -> (B, C, H, W)
  }

  encode(images_BCHW: Tensor, _draws?: DrawSource): Tokens {
    return { kind: 'continuous', latent: this.F.tidy(() => this.module.encoder.forward(this.toPatches(images_BCHW))) };
  }

  decode(tokens: Tokens): Tensor {
    if (tokens.kind !== 'continuous') throw new TesseraError('SHAPE_MISMATCH', 'tokenizer __name__ decodes continuous tokens', { subject: SUBJECT });
    return this.F.tidy(() => this.fromPatches(this.module.decoder.forward(tokens.latent)));
  }

  trainingLoss(images_BCHW: Tensor, _draws: DrawSource): { loss: Tensor; terms: Record<string, Tensor> } {
    const F = this.F;
    const reconstruction = F.tidy(() => F.mean(F.square(F.sub(this.decode(this.encode(images_BCHW)), images_BCHW))));
    return { loss: reconstruction, terms: { reconstruction } };
  }
}
`;

const OPTIONS = String.raw`/** Options of tokenizer '__name__'. Unknown keys are an error (strict), every option has a default. */
import { z } from 'zod';

export const __camel__TokenizerOptions = z.object({
  /** Image side in pixels. */
  resolution: z.number().int().positive().default(32),
  /** Pixels per token side. */
  patchSize: z.number().int().positive().default(4),
  /** Continuous values per token. */
  channels: z.number().int().positive().default(8),
}).strict().refine((o) => o.resolution % o.patchSize === 0, { message: 'resolution must be a multiple of patchSize', path: ['patchSize'] });

export type __Name__TokenizerOptions = z.output<typeof __camel__TokenizerOptions>;
`;

const INDEX = String.raw`/**
 * __package__: tokenizer '__name__' for Tessera, learned linear pixel-patch tokens.
 *
 * @example
 * { "tokenizer": { "use": "__name__", "options": { "resolution": 32, "patchSize": 4, "channels": 8 } } }
 */
import { definePlugin, ENGINE, TOKENIZER } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { __Name__Tokenizer } from './tokenizer';
import { __camel__TokenizerOptions } from './options';

export { __Name__Network, __Name__Tokenizer } from './tokenizer';
export { __camel__TokenizerOptions, type __Name__TokenizerOptions } from './options';

export const plugin = definePlugin({
  name: '__name__',
  kind: 'tokenizer',
  description: 'Pixel patches projected to continuous tokens by a learned linear map, with a latent pyramid',
  options: __camel__TokenizerOptions,
  capabilities: { provides: ['continuous', 'pyramid'], requires: [] },
  register(container, options) {
    container.register(TOKENIZER, { useFactory: instanceCachingFactory((c) => new __Name__Tokenizer(c.resolve(ENGINE), options)) });
  },
});

export default plugin;
`;

const TEST = String.raw`// The conformance suite of @tessera/core/testing on a tiny instance, on every engine.
const { describeConformance, tokenizerConformance } = require('@tessera/core/testing');
const { plugin } = require('..');

describeConformance('tokenizer/__name__ conformance', tokenizerConformance({
  plugin,
  options: { resolution: 8, patchSize: 2, channels: 4 },
}));
`;

export function tokenizerFiles(v: TemplateVars): Record<string, string> {
  return { 'src/tokenizer.ts': fill(TOKENIZER, v), 'src/options.ts': fill(OPTIONS, v), 'src/index.ts': fill(INDEX, v), 'test/conformance.test.js': fill(TEST, v) };
}

export const TOKENIZER_SUMMARY = { what: 'pixel patches projected to continuous tokens by a learned linear map.', config: '{ "tokenizer": { "use": "__name__", "options": { "resolution": 32, "patchSize": 4, "channels": 8 } } }' };
