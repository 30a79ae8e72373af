/**
 * `@tessera/tokenizer-msvq`: the multi-scale residual VQ tokenizer of VAR (VQVAE +
 * VectorQuantizer2), with HART's hybrid discrete + continuous-residual mode.
 *
 * @example
 * { "tokenizer": { "name": "msvq", "options": { "ch": 160, "hybrid": false } } }
 */
import { instanceCachingFactory } from 'tsyringe';
import { definePlugin, ENGINE, TOKENIZER } from '@tessera/core';
import type { Capability } from '@tessera/core';
import { msvqOptionsSchema } from './options';
import { msvqParityHandlers } from './parity';
import { MsvqTokenizer } from './tokenizer';

export const plugin = definePlugin({
  name: 'msvq',
  kind: 'tokenizer',
  description: 'Multi-scale residual VQ tokenizer (VAR VQVAE); `hybrid: true` adds the continuous residual of HART',
  options: msvqOptionsSchema,
  capabilities: (o) => ({
    provides: ['discrete', 'multi-scale', ...(o.hybrid ? (['residual'] as Capability[]) : [])],
    requires: [],
  }),
  register(container, options) {
    container.register(TOKENIZER, { useFactory: instanceCachingFactory((c) => new MsvqTokenizer(c.resolve(ENGINE), options)) });
  },
  parity: msvqParityHandlers,
});

export default plugin;

export { MsvqTokenizer, TOKENIZER_ID, vqvaeConfigOf } from './tokenizer';
export { msvqOptionsSchema, sharingOf, type MsvqOptions } from './options';
export { ResidualQuantizer, detach, fitUsageBuffer, type QuantizerConfig, type EncodeResult, type EncodeOptions, type ScaleTrace } from './quantizer';
export { Phi, PhiBank, phiIndex, phiTicks, phiSharing, PHI_IDENTITY_THRESHOLD, type PhiSharing } from './phi';
export { hybridEncode, hybridFeatures, type HybridEncoding } from './hybrid';
export { Vqvae, Encoder, Decoder, type ConvNetConfig, type VqvaeConfig } from './vqvae';
export { ResnetBlock, AttnBlock, Downsample2x, Upsample2x } from './blocks';
export * from './parity';
