/**
 * The generators the benchmarks sample with: the tiny presets (configs/<name>-tiny.json
 * when the repository has them, else the equivalent configs defined here: 128 px images,
 * small tokenizers, 4-block transformers) and the released architectures at 256 px
 * (configs/var-d16.json, far-b.json, mar-b.json, and a HART-like model: hart-0.7b's
 * transformer and heads on VAR's 256 px scale list). Weights are random (speed does not
 * depend on their values); configs are built through the plugin host like any user config.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { adalnBackbone } from '../backbones/adaln/index';
import { maeBackbone } from '../backbones/mae/index';
import type { Engine } from '../engine/engine';
import type { Generator } from '../contracts/generator';
import { TesseraError } from '../errors';
import { PluginHost } from '../plugin/host';
import { Rng } from '../rng/rng';
import { SeededDraws } from '../rng/draws';

export type Json = Record<string, unknown>;

const VAR_256 = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];
const TINY_PNS = [1, 2, 3, 4, 5, 6, 8];

const tinyMsvq = (hybrid: boolean): Json => ({
  use: 'msvq',
  options: { vocabSize: 4096, zChannels: 32, ch: 32, chMult: [1, 1, 2, 2, 4], numResBlocks: 1, patchNums: TINY_PNS, resolution: 128, ...(hybrid ? { hybrid: true } : {}) },
});
const tinyVae: Json = { use: 'vae', options: { embedDim: 16, baseChannels: 32, channelMultipliers: [1, 1, 2, 2, 4], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: 128 } };
const tinyMae: Json = {
  use: 'mae',
  options: {
    imgSize: 128, vaeStride: 16, vaeEmbedDim: 16, encoderEmbedDim: 256, encoderDepth: 4, encoderNumHeads: 4,
    decoderEmbedDim: 256, decoderDepth: 4, decoderNumHeads: 4, bufferSize: 16,
  },
};

/** Tiny presets used when configs/<name>.json is absent (same plugins as the released models, CPU-sized). */
export const TINY_PRESETS: Record<string, Json> = {
  'var-tiny': {
    name: 'var-tiny',
    tokenizer: tinyMsvq(false),
    direction: { use: 'scale', options: {} },
    head: { use: 'categorical', options: { width: 256, vocab: 4096 } },
    backbone: { use: 'adaln', options: { depth: 4, embedDim: 256, numHeads: 4, patchNums: TINY_PNS, vocabEmbedDim: 32 } },
    sampling: { cfg: 2.5, topK: 900, topP: 0.96 },
  },
  'far-tiny': {
    name: 'far-tiny',
    tokenizer: tinyVae,
    direction: { use: 'frequency', options: { levels: [0, 1, 2, 3, 4, 5, 6, 7] } },
    head: { use: 'diffusion', options: { tokenDim: 16, zChannels: 256, width: 256, depth: 2, numSamplingSteps: '25', levelConditioning: true, alwaysGuided: true } },
    backbone: tinyMae,
    sampling: { cfg: 3 },
  },
  'mar-tiny': {
    name: 'mar-tiny',
    tokenizer: tinyVae,
    direction: { use: 'masked', options: { numIterations: 16 } },
    head: { use: 'diffusion', options: { tokenDim: 16, zChannels: 256, width: 256, depth: 2, numSamplingSteps: '25' } },
    backbone: tinyMae,
    sampling: { cfg: 2.9 },
  },
  'hart-tiny': {
    name: 'hart-tiny',
    tokenizer: tinyMsvq(true),
    direction: { use: 'scale', options: { lastScaleGuidance: 'previous', hartTopK: true } },
    head: {
      use: 'categorical',
      options: { width: 256, vocab: 4096, norm: 'rms', residual: { use: 'diffusion', options: { mode: 'residual', tokenDim: 32, zChannels: 256, width: 256, depth: 2 } } },
    },
    backbone: { use: 'adaln', options: { variant: 'hart', depth: 4, embedDim: 256, numHeads: 4, patchNums: TINY_PNS, vocabEmbedDim: 32, attnL2Norm: false } },
    sampling: { cfg: 5.5, smooth: true },
  },
};

/** The folder holding `var-d16.json` etc.: `dir` if given, else the first `configs/` found from the working directory upwards. */
export function findConfigDir(dir?: string): string | undefined {
  if (dir) return dir;
  let at = process.cwd();
  for (;;) {
    const candidate = path.join(at, 'configs');
    if (existsSync(path.join(candidate, 'var-d16.json'))) return candidate;
    const up = path.dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}

function readJson(file: string): Json {
  return JSON.parse(readFileSync(file, 'utf8')) as Json;
}

/** A tiny preset: configs/<name>.json when present, else the built-in equivalent. */
export function tinyPreset(name: string, configDir?: string): { config: Json; source: string } {
  const file = configDir ? path.join(configDir, `${name}.json`) : undefined;
  if (file && existsSync(file)) return { config: readJson(file), source: file };
  const config = TINY_PRESETS[name];
  if (!config) throw new TesseraError('USAGE', `no tiny preset \`${name}\`; known: ${Object.keys(TINY_PRESETS).join(', ')}`);
  return { config, source: `built-in (${name}.json not found)` };
}

/** A released architecture: `var-d16`, `far-b`, `mar-b` from the configs folder, or `hart-256` (hart-0.7b at 256 px). */
export function releasedPreset(name: string, configDir: string | undefined): { config: Json; source: string } {
  if (!configDir) throw new TesseraError('CONFIG_NOT_FOUND', 'the released presets need the repository\'s configs/ folder (var-d16.json, ...); run from the repository or pass --configs <dir>');
  if (name === 'hart-256') {
    const file = path.join(configDir, 'hart-0.7b.json');
    const hart = readJson(file);
    const tokenizer = hart.tokenizer as { use: string; options: Json };
    const backbone = hart.backbone as { use: string; options: Json };
    return {
      config: {
        ...hart,
        name: 'hart-256',
        tokenizer: { ...tokenizer, options: { ...tokenizer.options, patchNums: VAR_256, resolution: 256 } },
        backbone: { ...backbone, options: { ...backbone.options, patchNums: VAR_256 } },
      },
      source: `${file} at 256 px (VAR's 10 scales)`,
    };
  }
  const file = path.join(configDir, `${name}.json`);
  if (!existsSync(file)) throw new TesseraError('CONFIG_NOT_FOUND', `\`${file}\` does not exist`);
  return { config: readJson(file), source: file };
}

/** Builds a config with random weights (seeded) on `engine`; plugins resolve from `searchPaths`. */
export function buildGenerator(engine: Engine, config: Json, searchPaths: string[], seed = 1): Generator {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-bench-'));
  const file = path.join(dir, 'config.json');
  const { weights: _weights, ...rest } = config;
  writeFileSync(file, JSON.stringify(rest));
  const host = new PluginHost({ searchPaths, builtins: [adalnBackbone, maeBackbone] });
  const generator = host.build(host.resolveFile(file), { engine, draws: SeededDraws.fromSeed(seed) });
  const rng = new Rng(seed);
  for (const m of [generator.tokenizer.module, generator.backbone.module, generator.head.module]) {
    m.initialize(rng);
    fillZeroParameters(engine, m, rng);
  }
  return generator;
}

/**
 * The official inits zero some layers (AdaLN modulations, the diffusion head's output
 * layer): a freshly initialised diffusion head then predicts ε = 0 whatever its input, and
 * samples would not depend on the transformer at all. Such all-zero parameters get
 * N(0, 0.02²) values, so the benchmark's cross-engine token check compares real work.
 */
export function fillZeroParameters(F: Engine, m: Generator['head']['module'], rng: Rng): void {
  for (const [, p] of m.namedParameters()) {
    const data = F.readSync(p.value);
    if (data.some((v) => v !== 0)) continue;
    p.set(F.tensor(Float32Array.from({ length: data.length }, () => rng.normal() * 0.02), [...p.shape], 'float32'));
  }
}

export function disposeGenerator(g: Generator): void {
  for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.dispose();
}

/** The config's sampler defaults (its `sampling` section). */
export function samplingOf(config: Json): Json {
  return (config.sampling as Json | undefined) ?? {};
}
