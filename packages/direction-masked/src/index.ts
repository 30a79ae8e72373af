/**
 * `@tessera/direction-masked`: the "next set of tokens in a random order" direction of
 * MAR (spec/mar.md §4.6, §6), and MaskGIT's when paired with a categorical head over a
 * single-scale discrete tokenizer. Registers a `MaskedDirection` under `DIRECTION`.
 *
 * @example
 * const options = plugin.options.parse({ numIterations: 64 });
 * plugin.register(container, options);
 */
import { definePlugin, DIRECTION, ENGINE } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { MaskedDirection } from './masked';
import { maskedDirectionOptionsSchema } from './options';
import { maskedParityHandlers } from './parity';

export { MaskedDirection, sampleOrders, type MaskedIteration, type MaskedState } from './masked';
export { maskedDirectionOptionsSchema, type MaskedDirectionOptions, type MaskedDirectionOptionsInput } from './options';
export { iterationCfg, iterationPlan, maskByOrder, maskedCount, nextMaskLength, positionsToPredict, type IterationPlan } from './schedule';
export { tokenSequence, type TokenBuffer, type TokenSequence } from './tokens';
export { marE2eSampleHandler, marModelSampleHandler, maskedParityHandlers } from './parity';

export const plugin = definePlugin({
  name: 'masked',
  kind: 'direction',
  description: 'Masked next-set direction with random orders and a cosine schedule (MAR; MaskGIT with a categorical head)',
  options: maskedDirectionOptionsSchema,
  capabilities: {
    provides: ['attention.bidirectional'],
    requires: [
      { slot: 'tokenizer', anyOf: ['continuous', 'discrete'], need: 'tokens on a grid of positions', fix: 'use a tokenizer such as `vae`' },
      { slot: 'backbone', anyOf: ['attention.bidirectional'], need: 'bidirectional attention over the known tokens', fix: 'use backbone `mae`' },
    ],
  },
  register(container, options) {
    container.register(DIRECTION, { useFactory: instanceCachingFactory((c) => new MaskedDirection(c.resolve(ENGINE), options)) });
  },
  parity: maskedParityHandlers,
});

export default plugin;
