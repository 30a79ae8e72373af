/**
 * The `adaln` backbone plugin: VAR's decoder-only AdaLN transformer (spec/var.md §5–6)
 * and HART's llama variant (spec/hart.md §4), block-causal or causal attention supplied
 * by the direction, and a KV cache for step-by-step sampling.
 */
import { instanceCachingFactory } from 'tsyringe';
import { BACKBONE, ENGINE } from '../../contracts/tokens';
import { definePlugin } from '../../plugin/define';
import { AdalnBackbone } from './backbone';
import { adalnOptionsSchema } from './options';
import { hartRopeHandler, hartTransformerForwardHandler } from './parity-hart';
import { varTransformerForwardHandler } from './parity-var';

export const adalnBackbone = definePlugin({
  name: 'adaln',
  kind: 'backbone',
  description: 'Decoder-only transformer with AdaLN class conditioning (VAR), or its HART variant with 2-D RoPE and a sinusoidal scale embedding',
  options: adalnOptionsSchema,
  capabilities: { provides: ['attention.causal', 'attention.block-causal', 'kv-cache'], requires: [] },
  register(container, options) {
    container.register(BACKBONE, { useFactory: instanceCachingFactory((c) => new AdalnBackbone(c.resolve(ENGINE), options)) });
  },
  parity: [varTransformerForwardHandler, hartRopeHandler, hartTransformerForwardHandler],
});

export { AdalnBackbone } from './backbone';
export { adalnOptionsSchema, type AdalnOptions } from './options';
export { VarTransformer, type VarTransformerConfig } from './var-model';
export { HartTransformer, type HartTransformerConfig, type HartChunk } from './hart-model';
export { varTransformerForwardHandler } from './parity-var';
export { hartRopeHandler, hartTransformerForwardHandler } from './parity-hart';
