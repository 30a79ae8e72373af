/**
 * `@tessera/direction-scale`: direction `scale`, next-scale prediction (VAR; HART with a
 * residual head composed into the categorical head). Teacher forcing is block-causal over
 * the concatenated scales; sampling runs scale by scale with the backbone's KV cache, the
 * linear guidance ramp, the head's top-k / top-p / smoothing, and VAR's zero-shot editing.
 *
 * @example
 * { "direction": { "use": "scale", "options": {} } }
 * { "direction": { "use": "scale", "options": { "lastScaleGuidance": "previous", "hartTopK": true } } }
 */
import { instanceCachingFactory } from 'tsyringe';
import { definePlugin, DIRECTION, ENGINE } from '@tessera/core';
import { ScaleDirection } from './direction';
import { scaleDirectionOptions } from './options';
import { scaleParityHandlers } from './parity-var';
import { hartInferHandler } from './parity-hart';

export * from './direction';
export * from './edit';
export * from './options';
export { disposeExample, drawLastScaleMask, hartTrainingExample, maskedCount, maskLastScale, residualTarget, type LastScaleMask } from './hart-training';
export { levelsOf, mapToRows, rowsToMap, pyramidTeacherForcing, teacherForcingExample, type ProgressiveStage } from './teacher-forcing';
export { scaleParityHandlers } from './parity-var';
export { hartInferHandler } from './parity-hart';

export const plugin = definePlugin({
  name: 'scale',
  kind: 'direction',
  description: 'Next-scale prediction (VAR/HART): block-causal teacher forcing over the scales, KV-cached scale-by-scale sampling with the linear CFG ramp, zero-shot editing',
  options: scaleDirectionOptions,
  capabilities: {
    provides: ['attention.block-causal'],
    requires: [
      {
        slot: 'tokenizer',
        anyOf: ['multi-scale', 'pyramid'],
        need: 'a multi-scale view of its tokens',
        fix: 'use tokenizer `msvq` (discrete, multi-scale) or `vae` (continuous, pyramid)',
      },
      {
        slot: 'backbone',
        anyOf: ['attention.block-causal'],
        need: 'block-causal attention',
        fix: 'use backbone `adaln`',
      },
      {
        slot: 'backbone',
        anyOf: ['kv-cache'],
        need: 'a key/value cache for scale-by-scale sampling',
        fix: 'use backbone `adaln`',
      },
    ],
  },
  register(container, options) {
    container.register(DIRECTION, { useFactory: instanceCachingFactory((c) => new ScaleDirection(c.resolve(ENGINE), options)) });
  },
  parity: [...scaleParityHandlers, hartInferHandler],
});

export default plugin;
