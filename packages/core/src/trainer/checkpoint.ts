/**
 * Training checkpoints and run folders. A checkpoint is one folder
 * `checkpoints/step-<n>/` written whole under a temporary name and renamed into place,
 * so a run killed at any moment leaves either the complete checkpoint or none:
 *
 *   model.safetensors      the transformer (backbone + head) in the official layout
 *   tokenizer.safetensors  the tokenizer in its official layout
 *   optimizer.safetensors  AdamW moments `exp_avg.<key>`, `exp_avg_sq.<key>`
 *   ema.safetensors        EMA weights of the trained keys (when EMA is on)
 *   state.json             step, optimizer steps, training RNG state, data position,
 *                          progressive stage, elapsed seconds
 *
 * The run folder's top level holds what sampling needs (`resolveRunDir`): `config.json`
 * and the newest weights as `model.safetensors` (EMA weights when EMA is on) and
 * `tokenizer.safetensors`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TesseraError } from '../errors';
import { loadTransformerWeights, transformerStateDict } from '../generator/weights';
import { readSafetensorsFile, writeSafetensors } from '../checkpoint/safetensors';
import type { HostTensor } from '../tensor/host';
import type { RngState } from '../rng/rng';
import type { ProgressiveState } from './schedule';
import type { Trainer } from './trainer';

export const CHECKPOINT_FORMAT = 'tessera-train/1';

export interface CheckpointState {
  format: string;
  target: 'generator' | 'tokenizer';
  step: number;
  optimizerSteps: number;
  rng: { words: RngState; spareNormal: number | null };
  /** The batcher's position (`Batcher.state()`). */
  data: unknown;
  progressive: ProgressiveState;
  /** Training seconds before this checkpoint (so `seconds` in metrics continues across resumes). */
  seconds: number;
}

function writeFileSynced(file: string, bytes: Uint8Array | string): void {
  const fd = fs.openSync(file, 'w');
  try {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const stepName = (step: number): string => `step-${String(step).padStart(7, '0')}`;

/** Writes the checkpoint of `trainer` under `<outDir>/checkpoints/` and prunes old ones; returns its folder. */
export async function writeCheckpoint(outDir: string, trainer: Trainer, extra: { data: unknown; seconds: number; keep: number }): Promise<string> {
  const g = trainer.generator;
  const root = path.join(outDir, 'checkpoints');
  fs.mkdirSync(root, { recursive: true });
  const final = path.join(root, stepName(trainer.step));
  const tmp = path.join(root, `.tmp-${stepName(trainer.step)}-${process.pid}-${Date.now()}`);
  fs.mkdirSync(tmp);
  try {
    const tensors: [string, Map<string, HostTensor>][] = [
      ['model.safetensors', await transformerStateDict(g)],
      ['tokenizer.safetensors', await g.tokenizer.module.stateDict()],
      ['optimizer.safetensors', await trainer.optimizer.state()],
    ];
    if (trainer.ema) tensors.push(['ema.safetensors', await trainer.ema.state()]);
    for (const [name, map] of tensors) writeFileSynced(path.join(tmp, name), writeSafetensors(map, { format: CHECKPOINT_FORMAT }));
    const state: CheckpointState = {
      format: CHECKPOINT_FORMAT, target: trainer.options.target, step: trainer.step, optimizerSteps: trainer.optimizer.steps,
      rng: trainer.rng.getState(), data: extra.data, progressive: { ...trainer.progressive }, seconds: extra.seconds,
    };
    writeFileSynced(path.join(tmp, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
    if (fs.existsSync(final)) fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  for (const old of listCheckpoints(outDir).slice(0, -extra.keep)) fs.rmSync(old.dir, { recursive: true, force: true });
  return final;
}

/** Complete checkpoints of a run, oldest first. */
export function listCheckpoints(outDir: string): { step: number; dir: string }[] {
  const root = path.join(outDir, 'checkpoints');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root)
    .map((name) => ({ name, m: /^step-(\d+)$/.exec(name) }))
    .filter((e) => e.m && fs.existsSync(path.join(root, e.name, 'state.json')))
    .map((e) => ({ step: Number((e.m as RegExpExecArray)[1]), dir: path.join(root, e.name) }))
    .sort((a, b) => a.step - b.step);
}

/** Restores weights, optimizer, EMA, RNG and progressive state from a checkpoint folder; returns its state. */
export function restoreCheckpoint(dir: string, trainer: Trainer): CheckpointState {
  let state: CheckpointState;
  try {
    state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as CheckpointState;
  } catch (e) {
    throw new TesseraError('CHECKPOINT_CORRUPT', `\`${dir}/state.json\` cannot be read: ${(e as Error).message}`, { subject: dir, cause: e });
  }
  if (state.format !== CHECKPOINT_FORMAT) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${dir}\` is a \`${state.format}\` checkpoint; this trainer reads \`${CHECKPOINT_FORMAT}\``, { subject: dir });
  }
  if (state.target !== trainer.options.target) {
    throw new TesseraError('CHECKPOINT_MISMATCH', `\`${dir}\` trains the ${state.target}, this run the ${trainer.options.target}; resume with --target ${state.target}, or use another --out`, { subject: dir, data: { saved: state.target } });
  }
  const g = trainer.generator;
  const read = (name: string): Map<string, HostTensor> => readSafetensorsFile(path.join(dir, name)).tensors;
  g.tokenizer.module.loadStateDict(read('tokenizer.safetensors'), { source: path.join(dir, 'tokenizer.safetensors') });
  loadTransformerWeights(g, read('model.safetensors'), path.join(dir, 'model.safetensors'));
  trainer.optimizer.load(read('optimizer.safetensors'), state.optimizerSteps, path.join(dir, 'optimizer.safetensors'));
  if (trainer.ema) trainer.ema.load(read('ema.safetensors'), path.join(dir, 'ema.safetensors'));
  trainer.rng.setState(state.rng);
  trainer.step = state.step;
  trainer.progressive = { ...state.progressive };
  return state;
}

/** What `tessera sample` needs from a training run folder (absent files are undefined). */
export interface RunDir {
  /** `config.json`: the generator config of the run (loadable by `readConfigFile`). */
  config: string;
  /** The transformer weights (backbone + head), EMA weights when the run kept an EMA. */
  weights: string | undefined;
  tokenizerWeights: string | undefined;
}

/**
 * The files of a training run folder written by `tessera train`.
 * @example const { config, weights, tokenizerWeights } = resolveRunDir('runs/var-tiny');
 */
export function resolveRunDir(dir: string): RunDir {
  const config = path.join(dir, 'config.json');
  if (!fs.existsSync(config)) {
    throw new TesseraError('FILE_NOT_FOUND', `\`${dir}\` is not a training run folder: it has no config.json (write one with \`tessera train --out ${dir}\`)`, { subject: dir, data: { path: dir } });
  }
  const file = (name: string): string | undefined => (fs.existsSync(path.join(dir, name)) ? path.join(dir, name) : undefined);
  return { config, weights: file('model.safetensors'), tokenizerWeights: file('tokenizer.safetensors') };
}
