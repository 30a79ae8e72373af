/**
 * `tessera-plugin-head-gmm`: head `gmm`, a K-component diagonal Gaussian mixture per
 * continuous token (GIVT, arXiv 2312.02116), trained by negative log-likelihood and
 * sampled with temperature and distribution-based classifier-free guidance. A drop-in
 * replacement for head `diffusion` in MAR/FAR-style configs:
 *
 * @example
 * { "head": { "use": "gmm", "options": { "tokenDim": 4, "zChannels": 64, "components": 8 } } }
 */
import { definePlugin, ENGINE, HEAD } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { GmmHead } from './head';
import { gmmHeadOptionsSchema } from './options';

export { GmmHead, GmmNetwork } from './head';
export { heaviestMean, logDensity, logSumExp, sampleGuided, sampleMixture, temper, type Mixture } from './mixture';
export { gmmHeadOptionsSchema, type GmmHeadOptions, type GmmHeadOptionsInput } from './options';

export const plugin = definePlugin({
  name: 'gmm',
  kind: 'head',
  description: 'Mixture-of-Gaussians head for continuous tokens (GIVT): NLL loss, tempered sampling, distribution-based CFG',
  options: gmmHeadOptionsSchema,
  capabilities: {
    provides: [],
    requires: [{ slot: 'tokenizer', anyOf: ['continuous'], need: 'continuous tokens to model with a density', fix: 'use a continuous tokenizer such as `vae`, or head `categorical` for discrete tokens' }],
  },
  register(container, options) {
    container.register(HEAD, { useFactory: instanceCachingFactory((c) => new GmmHead(c.resolve(ENGINE), options)) });
  },
});

export default plugin;
