/**
 * Tiny generator configs for the next-scale and raster directions (JSON, as a user writes
 * them), built through the plugin host with random weights. Sizes: 8-pixel images, a
 * 2x-stride msvq (8 code channels, 16 codes) or vae (4 latent channels), a one-block
 * adaln transformer of width 32.
 */

type Json = Record<string, unknown>;

export const msvq = (patchNums: number[], extra: Json = {}): Json => ({
  use: 'msvq',
  options: { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums, resolution: 8, ...extra },
});

export const vae = (): Json => ({
  use: 'vae',
  options: { embedDim: 4, baseChannels: 32, channelMultipliers: [1, 1], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: 8 },
});

export const adaln = (patchNums: number[], vocabEmbedDim: number, extra: Json = {}): Json => ({
  use: 'adaln',
  options: { depth: 1, embedDim: 32, numHeads: 2, classes: 10, patchNums, vocabEmbedDim, ...extra },
});

export const categorical = (extra: Json = {}): Json => ({ use: 'categorical', options: { width: 32, vocab: 16, ...extra } });

export const diffusion = (extra: Json = {}): Json => ({
  use: 'diffusion',
  options: { tokenDim: 4, zChannels: 32, width: 16, depth: 1, numSamplingSteps: '3', batchMultiplier: 1, ...extra },
});

/** A VAR-like config: msvq + scale + categorical + adaln over scales 1, 2, 4. */
export function tinyVar(direction: Json = {}): Json {
  const pns = [1, 2, 4];
  return { name: 'tiny-var', tokenizer: msvq(pns), direction: { use: 'scale', options: direction }, head: categorical(), backbone: adaln(pns, 8) };
}

/** A HART-like config: hybrid msvq + scale (HART quirks) + categorical with a residual diffusion head + adaln `hart`. */
export function tinyHart(): Json {
  const pns = [1, 2, 4];
  return {
    name: 'tiny-hart',
    tokenizer: msvq(pns, { hybrid: true }),
    direction: { use: 'scale', options: { lastScaleGuidance: 'previous', hartTopK: true } },
    head: categorical({ norm: 'rms', residual: { use: 'diffusion', options: { mode: 'residual', tokenDim: 8, zChannels: 32, width: 16, depth: 1, numSamplingSteps: '3' } } }),
    backbone: adaln(pns, 8, { variant: 'hart', numHeads: 2 }),
  };
}

/** `tinyHart` text-conditioned: 4 context features of width 6 per image through `context_embed`. */
export function tinyTextHart(): Json {
  const config = tinyHart() as { backbone: { options: Json } } & Json;
  return { ...config, name: 'tiny-hart-text', backbone: { ...config.backbone, options: { ...config.backbone.options, conditioning: 'context', contextTokens: 4, contextDim: 6 } } };
}

export { buildTiny, disposeGenerator } from '../core/sampler/tiny-generators';
