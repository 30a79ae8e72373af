/**
 * A training run: the loop around `Trainer.trainStep` that a `tessera train` (or a test)
 * drives. It draws batches from a resumable batch source, logs one JSON line per logged
 * step to `metrics.jsonl` (step, loss, lr, images/s, seconds), writes a checkpoint every
 * `checkpointEvery` steps and at the end (checkpoint.ts), refreshes the run folder's
 * sampling files with it, and asks for a sample grid every `sampleEvery` steps.
 *
 * Resume: the newest complete checkpoint restores the weights, AdamW moments, EMA, the
 * training RNG, the data position and the step; `metrics.jsonl` is cut back to that step,
 * so an interrupted and resumed run logs exactly the lines of an uninterrupted one.
 * A divergence (TRAINING_DIVERGED) ends the run without writing a checkpoint: the last
 * good one stays the newest.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensorsFile } from '../checkpoint/safetensors';
import { transformerStateDict } from '../generator/weights';
import type { HostTensor } from '../tensor/host';
import { writeFileAtomic } from '../util/atomic';
import { listCheckpoints, restoreCheckpoint, writeCheckpoint } from './checkpoint';
import type { StepMetrics, TrainBatch, Trainer } from './trainer';

/** Where batches come from: a `Batcher` or `LatentBatcher` (data/), or anything with their resumable shape. */
export interface BatchSource {
  next(): Promise<TrainBatch> | TrainBatch;
  state(): unknown;
  restore(state: never): void;
}

/** One line of `metrics.jsonl`. */
export interface MetricsLine {
  step: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
  /** Training seconds since the run started (resumes continue the count). */
  seconds: number;
  gradNorm: number;
}

export interface TrainingRunOptions {
  trainer: Trainer;
  data: BatchSource;
  outDir: string;
  /** Continue from the newest checkpoint in `outDir` (a fresh start when there is none). */
  resume?: boolean;
  /** The generator config written as `config.json` (what `tessera sample` loads). */
  config: unknown;
  /** Called after every step with its metrics (progress bars). */
  onStep?(m: MetricsLine): void;
  onCheckpoint?(dir: string, step: number): void;
  /** Writes a sample grid for the current weights (EMA weights when EMA is on). */
  sample?(file: string, step: number): Promise<void>;
  /** Stop after this many steps of this process without the final checkpoint (tests of resume). */
  stopAfter?: number;
}

export interface TrainingRunResult {
  /** The step the run started from (0, or the restored checkpoint's). */
  startStep: number;
  step: number;
  lines: MetricsLine[];
}

function cutMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '' && (JSON.parse(l) as MetricsLine).step <= step);
  writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
}

/** Writes the run folder's sampling files: config.json and the newest weights in the official layouts. */
async function writeRunFiles(o: TrainingRunOptions): Promise<void> {
  const { trainer, outDir } = o;
  writeFileAtomic(path.join(outDir, 'config.json'), `${JSON.stringify(o.config, null, 2)}\n`);
  writeSafetensorsFile(path.join(outDir, 'tokenizer.safetensors'), await weightsForSampling(trainer, 'tokenizer'));
  if (trainer.options.target === 'generator') writeSafetensorsFile(path.join(outDir, 'model.safetensors'), await weightsForSampling(trainer, 'transformer'));
}

async function weightsForSampling(trainer: Trainer, part: 'tokenizer' | 'transformer'): Promise<Map<string, HostTensor>> {
  const g = trainer.generator;
  const read = async (): Promise<Map<string, HostTensor>> => (part === 'tokenizer' ? g.tokenizer.module.stateDict() : transformerStateDict(g));
  const trainsPart = (trainer.options.target === 'tokenizer') === (part === 'tokenizer');
  return trainer.ema && trainsPart ? trainer.ema.withWeights(read) : read();
}

/** Runs (or resumes) training to `trainer.options.steps`. */
export async function runTraining(o: TrainingRunOptions): Promise<TrainingRunResult> {
  const { trainer, data, outDir } = o;
  const opts = trainer.options;
  fs.mkdirSync(outDir, { recursive: true });
  const metricsFile = path.join(outDir, 'metrics.jsonl');
  let secondsBefore = 0;
  const latest = o.resume ? listCheckpoints(outDir).pop() : undefined;
  if (latest) {
    const state = restoreCheckpoint(latest.dir, trainer);
    (data.restore as (s: unknown) => void)(state.data);
    secondsBefore = state.seconds;
    cutMetrics(metricsFile, state.step);
  } else {
    fs.rmSync(metricsFile, { force: true });
  }
  const startStep = trainer.step;
  const lines: MetricsLine[] = [];
  const started = Date.now();
  const seconds = (): number => secondsBefore + (Date.now() - started) / 1000;
  let lastLog = { time: Date.now(), step: trainer.step };
  const checkpoint = async (): Promise<void> => {
    const dir = await writeCheckpoint(outDir, trainer, { data: data.state(), seconds: seconds(), keep: opts.keepCheckpoints });
    await writeRunFiles(o);
    o.onCheckpoint?.(dir, trainer.step);
  };
  while (trainer.step < opts.steps) {
    if (o.stopAfter !== undefined && trainer.step - startStep >= o.stopAfter) return { startStep, step: trainer.step, lines };
    const batch = await data.next();
    const m: StepMetrics = trainer.trainStep(batch);
    const now = Date.now();
    const line: MetricsLine = {
      step: m.step, loss: m.loss, lr: m.lr,
      imagesPerSecond: ((m.step - lastLog.step) * opts.batchSize) / Math.max(1e-3, (now - lastLog.time) / 1000),
      seconds: Math.round(seconds() * 1000) / 1000, gradNorm: m.gradNorm,
    };
    o.onStep?.(line);
    if (m.step % opts.logEvery === 0 || m.step === opts.steps) {
      fs.appendFileSync(metricsFile, `${JSON.stringify(line)}\n`);
      lines.push(line);
      lastLog = { time: now, step: m.step };
    }
    if (m.step % opts.checkpointEvery === 0 || m.step === opts.steps) await checkpoint();
    if (o.sample && (m.step % opts.sampleEvery === 0 || m.step === opts.steps)) {
      await o.sample(path.join(outDir, 'samples', `step-${String(m.step).padStart(7, '0')}.png`), m.step);
    }
  }
  return { startStep, step: trainer.step, lines };
}
