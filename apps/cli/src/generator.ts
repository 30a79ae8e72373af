/**
 * What `tessera sample`, `edit` and `reconstruct` share: an engine by name, a generator
 * (or a tokenizer alone) built from a config through the plugin host, weights in the
 * official layouts (the transformer file = backbone + head, the tokenizer in its own
 * file; generator/weights.ts), random weights only when asked for, and parameter counts
 * that allocate nothing (parameters are lazy until loaded or initialised).
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import {
  resolveRunDir,
  createEngine as createCoreEngine,
  defaultSamplingEngine,
  parseDevice,
  parsePrecision,
  tokenTensors,
  loadTransformerWeights, loadWeights, readTokenizerConfigFile, Rng, SeededDraws, TesseraError,
} from '@tessera/core';
import type { Engine, Generator, Module, PluginHost, ResolvedConfig, ResolvedSlot, Tokenizer, TokenizerConfig, Tokens, WeightsFileNote } from '@tessera/core';

/**
 * `--config` may name a training run folder (`tessera train --out`): its config and its
 * newest weights then stand in for `--config`, `--weights` and `--tokenizer-weights`
 * (flags given explicitly win).
 */
export function withRunDir<F extends { config: string; weights?: string; tokenizerWeights?: string }>(flags: F): F {
  if (!statSync(flags.config, { throwIfNoEntry: false })?.isDirectory()) return flags;
  const run = resolveRunDir(flags.config);
  return { ...flags, config: run.config, weights: flags.weights ?? run.weights, tokenizerWeights: flags.tokenizerWeights ?? run.tokenizerWeights };
}

/** The engine of `--engine` (default: the fastest available for sampling) on `--device`. */
export async function createEngine(name: string | undefined, device = 'auto', precision = 'fp32'): Promise<Engine> {
  if (name === 'all') throw new TesseraError('USAGE', '`--engine all` is for `tessera parity`; choose one engine: tfjs or onnx');
  return createCoreEngine(name ?? defaultSamplingEngine(), { device: parseDevice(device), precision: parsePrecision(precision) });
}

export function buildGenerator(host: PluginHost, configFile: string, engine: Engine, seed: number): { resolved: ResolvedConfig; generator: Generator } {
  const resolved = host.resolveFile(configFile);
  const generator = host.build(resolved, { engine, draws: SeededDraws.fromSeed(seed) });
  return { resolved, generator };
}

export function buildTokenizer(host: PluginHost, configFile: string, engine: Engine, seed: number): { config: TokenizerConfig; slot: ResolvedSlot; tokenizer: Tokenizer } {
  const config = readTokenizerConfigFile(configFile);
  const slot = host.resolveTokenizer(config, configFile);
  return { config, slot, tokenizer: host.buildTokenizer(slot, { engine, draws: SeededDraws.fromSeed(seed) }) };
}

/** Parameter counts as torch's `parameters()` counts them: buffers (VAR's attention bias, ...) excluded. */
export interface ParameterCounts {
  tokenizer: number;
  backbone: number;
  head: number;
  /** Backbone + head: what the official transformer file holds and the papers report. */
  transformer: number;
  total: number;
}

const count = (m: Module): number => m.parameterCount({ trainableOnly: true });

export function parameterCounts(g: Generator): ParameterCounts {
  const tokenizer = count(g.tokenizer.module), backbone = count(g.backbone.module), head = count(g.head.module);
  return { tokenizer, backbone, head, transformer: backbone + head, total: tokenizer + backbone + head };
}

export interface WeightFlags {
  /** The transformer file (backbone + head). */
  weights?: string;
  key?: string;
  tokenizerWeights?: string;
  tokenizerKey?: string;
  /** Initialise every module no file sets from `seed`. */
  randomWeights?: boolean;
  seed: number;
}

/**
 * Reads a weights file; `key` selects a nested dict of a torch file (`model_ema`) or a name
 * prefix of a safetensors file. Without `key`, the config's note for the released (torch)
 * file gives it; a note's `prefix` (HART's `vae.`) is stripped where the keys carry it.
 */
export function readWeightsFile(file: string, key: string | undefined, note: WeightsFileNote | undefined): ReturnType<typeof loadWeights> {
  const released = path.extname(file).toLowerCase() !== '.safetensors';
  const weights = loadWeights(file, { key: key ?? (released ? note?.key : undefined) });
  const prefix = note?.prefix;
  if (!prefix || ![...weights.keys()].some((k) => k.startsWith(prefix))) return weights;
  return new Map([...weights].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
}

/** Loads the tokenizer strictly from its official file. */
export function loadTokenizerWeights(tokenizer: Tokenizer, file: string, key: string | undefined, note: WeightsFileNote | undefined): void {
  tokenizer.module.loadStateDict(readWeightsFile(file, key, note), { source: file });
}

/**
 * Weights for every module of a generator: from the files given, else (with
 * `randomWeights`) from the seed; otherwise a USAGE error naming the released files.
 * Returns one line per module saying where its weights came from.
 */
export function loadGeneratorWeights(g: Generator, resolved: ResolvedConfig, flags: WeightFlags): string[] {
  const notes = resolved.config.weights;
  const missing: string[] = [];
  if (!flags.weights) missing.push(`--weights (the transformer file${notes?.transformer ? `, \`${notes.transformer.file}\`` : ''})`);
  if (!flags.tokenizerWeights) missing.push(`--tokenizer-weights (${notes?.tokenizer ? `\`${notes.tokenizer.file}\`` : 'the tokenizer file'})`);
  if (missing.length && !flags.randomWeights) {
    throw new TesseraError('USAGE', `\`${resolved.source}\` needs weights: ${missing.join(' and ')}; or pass --random-weights to sample from random weights (seeded by --seed)`, {
      data: { missing },
    });
  }
  const lines: string[] = [];
  if (flags.tokenizerWeights) {
    loadTokenizerWeights(g.tokenizer, flags.tokenizerWeights, flags.tokenizerKey, notes?.tokenizer);
    lines.push(`tokenizer weights: ${flags.tokenizerWeights}`);
  }
  if (flags.weights) {
    loadTransformerWeights(g, readWeightsFile(flags.weights, flags.key, notes?.transformer), flags.weights);
    lines.push(`transformer weights: ${flags.weights}`);
  }
  if (missing.length) {
    const rng = new Rng(flags.seed);
    for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.initialize(rng);
    const what = [flags.tokenizerWeights ? '' : 'the tokenizer', flags.weights ? '' : 'the transformer'].filter(Boolean).join(' and ');
    lines.push(`random weights (seed ${flags.seed}) for ${what}`);
  }
  return lines;
}

/** Frees the tensors of a token set. */
export function disposeTokens(F: Engine, t: Tokens): void {
  F.dispose(tokenTensors(t));
}

/** Frees every module of a generator. */
export function disposeGenerator(g: Generator): void {
  for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.dispose();
}

/** Class labels: integers in 0..classes−1, or `null` / `none` for the null class. */
export function parseClassList(values: string[] | undefined): (number | null)[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.flatMap((v) => v.split(',')).filter((v) => v.trim() !== '').map((v) => {
    const s = v.trim();
    if (s === 'null' || s === 'none') return null;
    if (!/^\d+$/.test(s)) throw new TesseraError('USAGE', `--class \`${s}\` is not a class index; give non-negative integers, or \`null\` for unconditional images`, { data: { value: s } });
    return Number(s);
  });
}

/** Positive integer flag. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new TesseraError('USAGE', `${name} must be a positive integer, got \`${value}\``, { data: { flag: name, value } });
  return n;
}

/** Integer ≥ 0 flag (seeds). */
export function nonNegativeInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new TesseraError('USAGE', `${name} must be an integer in 0..2^32−1, got \`${value}\``, { data: { flag: name, value } });
  return n;
}

