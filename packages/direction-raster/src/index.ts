/**
 * `@tessera/direction-raster`: direction `raster`, next-token prediction in raster order
 * over the finest token map with a causal mask; KV-cached sampling one token per step.
 * Works with discrete tokens (head `categorical`) and continuous ones (head `diffusion`).
 *
 * @example
 * { "direction": { "use": "raster", "options": {} } }
 */
import { instanceCachingFactory } from 'tsyringe';
import { definePlugin, DIRECTION, ENGINE } from '@tessera/core';
import { RasterDirection } from './direction';
import { rasterDirectionOptions } from './options';

export * from './direction';
export * from './options';

export const plugin = definePlugin({
  name: 'raster',
  kind: 'direction',
  description: 'Next-token prediction in raster order over the finest token map (causal attention, KV-cached sampling)',
  options: rasterDirectionOptions,
  capabilities: {
    provides: ['attention.causal'],
    requires: [
      { slot: 'backbone', anyOf: ['attention.causal'], need: 'causal attention', fix: 'use backbone `adaln`' },
      { slot: 'backbone', anyOf: ['kv-cache'], need: 'a key/value cache for token-by-token sampling', fix: 'use backbone `adaln`' },
    ],
  },
  register(container, options) {
    container.register(DIRECTION, { useFactory: instanceCachingFactory((c) => new RasterDirection(c.resolve(ENGINE), options)) });
  },
});

export default plugin;
