/**
 * `@tessera/tokenizer-vae`: the continuous KL-autoencoder tokenizer of MAR and FAR
 * (spec/mar.md §2). Registers a `VaeTokenizer` under `TOKENIZER`; provides continuous
 * tokens and a latent pyramid (area down, bicubic up) for multi-scale directions.
 *
 * @example
 * const options = plugin.options.parse({ baseChannels: 32, channelMultipliers: [1, 2] });
 * plugin.register(container, options);
 */
import { definePlugin, ENGINE, TOKENIZER } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { vaeOptionsSchema } from './options';
import { vaeParityHandlers } from './parity';
import { VaeTokenizer } from './tokenizer';

export { AutoencoderKL, Decoder, DiagonalGaussian, Encoder, type AutoencoderConfig } from './autoencoder';
export { AttnBlock, Downsample, ResnetBlock, Upsample } from './blocks';
export { autoencoderConfig, vaeOptionsSchema, type VaeOptions } from './options';
export { configFromManifest, vaeDecodeHandler, vaeEncodeHandler, vaeParityHandlers } from './parity';
export { InterpolationPyramid, VaeTokenizer } from './tokenizer';

export const plugin = definePlugin({
  name: 'vae',
  kind: 'tokenizer',
  description: 'KL autoencoder (LDM architecture) with continuous latents, as used by MAR and FAR',
  options: vaeOptionsSchema,
  capabilities: { provides: ['continuous', 'pyramid'], requires: [] },
  register(container, options) {
    container.register(TOKENIZER, { useFactory: instanceCachingFactory((c) => new VaeTokenizer(c.resolve(ENGINE), options)) });
  },
  parity: vaeParityHandlers,
});

export default plugin;
