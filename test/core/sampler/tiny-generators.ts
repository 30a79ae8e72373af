/**
 * Tiny MAR-like and FAR-like generator configs (JSON, as a user writes them) and a
 * builder that resolves them through the plugin host and initialises random weights.
 * Sizes: 8-pixel images, a 2x-stride autoencoder with 4 latent channels (4x4 latent),
 * a one-block encoder-decoder and a one-block diffusion head with 3 sampling steps.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Engine, Generator, adalnBackbone, maeBackbone, PluginHost, Rng, SeededDraws } from '@tessera/core';
import { REPO } from '../../paths';

export function tinyConfig(direction: 'masked' | 'frequency', directionOptions: Record<string, unknown> = {}): Record<string, unknown> {
  const far = direction === 'frequency';
  return {
    name: `tiny-${direction}`,
    tokenizer: { use: 'vae', options: { embedDim: 4, baseChannels: 32, channelMultipliers: [1, 1], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: 8 } },
    direction: { use: direction, options: far ? { levels: [0, 1, 2, 3], ...directionOptions } : { numIterations: 4, ...directionOptions } },
    head: { use: 'diffusion', options: { tokenDim: 4, zChannels: 16, width: 16, depth: 1, numSamplingSteps: '3', batchMultiplier: 2, levelConditioning: far, alwaysGuided: far } },
    backbone: {
      use: 'mae',
      options: {
        imgSize: 8, vaeStride: 2, vaeEmbedDim: 4, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2,
        decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 10, bufferSize: 2, attnDropout: 0, projDropout: 0,
      },
    },
  };
}

/** Writes the config to a temporary JSON file and builds it; every module gets random weights from `seed`. */
export function buildTiny(engine: Engine, config: Record<string, unknown>, seed = 1): Generator {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-tiny-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const host = new PluginHost({ searchPaths: [REPO], builtins: [maeBackbone, adalnBackbone] });
  const generator = host.build(host.resolveFile(file), { engine, draws: SeededDraws.fromSeed(seed) });
  const rng = new Rng(seed);
  for (const m of [generator.tokenizer.module, generator.backbone.module, generator.head.module]) m.initialize(rng);
  return generator;
}

export function disposeGenerator(g: Generator): void {
  for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.dispose();
}
