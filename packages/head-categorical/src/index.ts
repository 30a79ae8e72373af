/**
 * @tessera/head-categorical: head `categorical`, a softmax over the tokenizer's
 * codebook (VAR's head): label-smoothed cross-entropy for training and a sampler with
 * classifier-free guidance, temperature, top-k, top-p, greedy and VAR's Gumbel
 * smoothing. Needs a tokenizer with discrete tokens.
 */
import { instanceCachingFactory } from 'tsyringe';
import { definePlugin, ENGINE, HEAD } from '@tessera/core';
import { CategoricalHead } from './head';
import { categoricalHeadOptions } from './options';
import { categoricalParityHandlers } from './parity';

export * from './head';
export * from './loss';
export * from './options';
export * from './parity';
export * from './sampling';

export const plugin = definePlugin({
  name: 'categorical',
  kind: 'head',
  description: 'Softmax over a codebook (VAR): label-smoothed cross-entropy; CFG, temperature, top-k/top-p, greedy and Gumbel-smoothed sampling',
  options: categoricalHeadOptions,
  capabilities: {
    provides: [],
    requires: [{
      slot: 'tokenizer',
      anyOf: ['discrete'],
      need: 'discrete tokens',
      fix: 'use head `diffusion`, or a discrete tokenizer such as `msvq`',
    }],
  },
  register(container, options) {
    container.register(HEAD, { useFactory: instanceCachingFactory((c) => new CategoricalHead(c.resolve(ENGINE), options)) });
  },
  parity: categoricalParityHandlers,
});

export default plugin;
