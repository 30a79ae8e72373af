/**
 * `@tessera/direction-frequency`: FAR's next-frequency direction (spec/far.md): each AR
 * step re-predicts the whole latent from a version low-passed to the next frequency
 * level, with the level passed to the head. Registers a `FrequencyDirection` under
 * `DIRECTION`; needs continuous tokens with a pyramid (area down, bicubic up) and a
 * bidirectional backbone.
 *
 * @example
 * const options = plugin.options.parse({ masking: false });
 * plugin.register(container, options);
 */
import { definePlugin, DIRECTION, ENGINE } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { FrequencyDirection } from './frequency';
import { frequencyDirectionOptionsSchema } from './options';
import { frequencyParityHandlers } from './parity';

export { FrequencyDirection, maskByOrder, sampleOrders, type FrequencyState, type FrequencyStep } from './frequency';
export { frequencyDirectionOptionsSchema, MASK_LEVELS, NOMASK_LEVELS, type FrequencyDirectionOptions, type FrequencyDirectionOptionsInput } from './options';
export { checkLevel, levelLossWeight, lowPass, stepCfg, stepMaskLength, stepTemperature } from './schedule';
export { farE2eSampleHandler, farModelSampleHandler, frequencyParityHandlers } from './parity';

export const plugin = definePlugin({
  name: 'frequency',
  kind: 'direction',
  description: 'Next-frequency direction: low-pass levels from coarse to fine, the whole latent re-predicted per step (FAR)',
  options: frequencyDirectionOptionsSchema,
  capabilities: {
    provides: ['attention.bidirectional'],
    requires: [
      { slot: 'tokenizer', anyOf: ['continuous'], need: 'continuous latents to low-pass', fix: 'use a continuous tokenizer such as `vae`' },
      { slot: 'tokenizer', anyOf: ['pyramid'], need: 'a multi-scale view of its latents (area down, bicubic up) for the frequency filter', fix: 'use a tokenizer with a latent pyramid such as `vae`' },
      { slot: 'backbone', anyOf: ['attention.bidirectional'], need: 'bidirectional attention over the whole latent', fix: 'use backbone `mae`' },
    ],
  },
  register(container, options) {
    container.register(DIRECTION, { useFactory: instanceCachingFactory((c) => new FrequencyDirection(c.resolve(ENGINE), options)) });
  },
  parity: frequencyParityHandlers,
});

export default plugin;
