/**
 * The built-in `mae` backbone (MAR/FAR's encoder-decoder ViT with buffer tokens), as a
 * plugin object like any other, so configs select it by name and research configs can
 * swap it.
 */
import { instanceCachingFactory } from 'tsyringe';
import { definePlugin } from '../../plugin/define';
import { BACKBONE, ENGINE } from '../../contracts/tokens';
import { MaeBackbone } from './backbone';
import { maeOptionsSchema } from './options';
import { maeParityHandlers } from './parity';

export { MaeBackbone } from './backbone';
export { MaeTransformer } from './model';
export type { MaeForwardInput, MaeForwardOutput, MaskLayout } from './model';
export { maeOptionsSchema } from './options';
export type { MaeOptions } from './options';
export { patchify, unpatchify } from './patchify';
export { VitBlock, XavierLinear } from './vit-block';
export type { VitBlockOptions } from './vit-block';
export { diffusionHeadOptionsFromOfficial, instantiatePlugin, maeE2eSample, maeOptionsFromOfficial, parityPluginHost, vaeOptionsFromOfficial } from './parity-plugins';
export type { MaeVariant, OfficialMaeConfig } from './parity-plugins';
export { maeParityHandlers, marModelForwardHandler, farModelForwardHandler, farFilterHandler } from './parity';

export const maeBackbone = definePlugin({
  name: 'mae',
  kind: 'backbone',
  description: 'MAE-style encoder-decoder ViT with class buffer tokens and mask tokens (MAR, FAR)',
  options: maeOptionsSchema,
  capabilities: { provides: ['attention.bidirectional'], requires: [] },
  register(container, options) {
    container.register(BACKBONE, { useFactory: instanceCachingFactory((c) => new MaeBackbone(c.resolve(ENGINE), options)) });
  },
  parity: maeParityHandlers,
});
