/**
 * `tessera train`: trains a generator's transformer (or, with `--target tokenizer`, its
 * tokenizer) on a folder of images or IDX files, with core's `Trainer` and `runTraining`.
 * The out folder gets `config.json` (loadable by `tessera sample`), `config.resolved.json`
 * (every option after defaults and presets, with the defaulted keys), `metrics.jsonl`,
 * `checkpoints/step-<n>/` (atomic, resumable with `--resume`), `samples/step-<n>.png`, and
 * the newest weights in the official layouts (`model.safetensors`, `tokenizer.safetensors`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Batcher, buildLatentCache, CachedLatentDataset, LatentBatcher, listCheckpoints, loadWeights, nullClassOf, openDataset, readConfigFile, resolveRunDir, resolveTraining, Rng, runTraining,
  saveReconstructionGrid, saveSampleGrid, SeededDraws, TesseraError, TfjsEngine, Trainer, writeFileAtomic,
} from '@tessera/core';
import type { Dataset, Generator, MetricsLine, PluginHost, TrainingOptions, TrainingTarget } from '@tessera/core';
import { resolvedConfigRecord } from './config';
import { createProgress } from '../progress';

export interface TrainFlags {
  config: string;
  data: string;
  steps?: string;
  batch?: string;
  out?: string;
  resume?: boolean;
  target?: string;
  tokenizerWeights?: string;
  randomTokenizer?: boolean;
  tokenizerSteps?: string;
  seed?: string;
}

function intFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new TesseraError('USAGE', `${name} must be an integer ≥ ${min}, got \`${value}\``, { data: { flag: name, value } });
  return n;
}

/** A tokenizer weights file, or the `tokenizer.safetensors` of a training run folder. */
function tokenizerFile(given: string): string {
  if (fs.existsSync(given) && fs.statSync(given).isDirectory()) {
    const file = resolveRunDir(given).tokenizerWeights;
    if (!file) throw new TesseraError('FILE_NOT_FOUND', `run folder \`${given}\` has no tokenizer.safetensors yet; train its tokenizer first (--target tokenizer)`, { data: { path: given } });
    return file;
  }
  return given;
}

function initialWeights(g: Generator, flags: TrainFlags, target: TrainingTarget, seed: number, resuming: boolean): string {
  const rng = new Rng(seed);
  for (const m of [g.backbone.module, g.head.module]) m.initialize(rng);
  if (resuming) {
    g.tokenizer.module.initialize(rng); // every module is then loaded from the checkpoint
    return 'from the newest checkpoint';
  }
  if (flags.tokenizerWeights) {
    const file = tokenizerFile(flags.tokenizerWeights);
    g.tokenizer.module.loadStateDict(loadWeights(file), { source: file });
    return `tokenizer from ${file}`;
  }
  g.tokenizer.module.initialize(rng);
  return `random tokenizer (seed ${seed})`;
}

export async function trainCommand(host: PluginHost, flags: TrainFlags, write: (s: string) => void): Promise<void> {
  const target = (flags.target ?? 'generator') as TrainingTarget;
  if (target !== 'generator' && target !== 'tokenizer') {
    throw new TesseraError('USAGE', `--target must be \`generator\` or \`tokenizer\`, got \`${flags.target}\``, { data: { flag: '--target', value: flags.target } });
  }
  const config = readConfigFile(flags.config);
  const resolved = host.resolve(config, flags.config);
  const overrides = { steps: intFlag('--steps', flags.steps, 1), batchSize: intFlag('--batch', flags.batch, 1), seed: intFlag('--seed', flags.seed, 0) };
  const { options, defaulted } = resolveTraining(config.training, target, resolved.slots.head.plugin.name, overrides, flags.config);
  const outDir = flags.out ?? path.join('runs', target === 'tokenizer' ? `${config.name}-tokenizer` : config.name);
  const resuming = listCheckpoints(outDir).length > 0;
  if (!flags.resume && resuming) {
    throw new TesseraError('USAGE', `\`${outDir}\` already holds checkpoints of a run; pass --resume to continue it, or choose another --out`, { data: { out: outDir } });
  }

  if (target === 'generator' && !resuming && !flags.tokenizerWeights && !flags.randomTokenizer) {
    // From images to a generator in one command: the tokenizer is trained first, in its own
    // run folder inside this one (resumable like any run), then frozen for the generator.
    const tokenizerDir = path.join(outDir, 'tokenizer');
    write(`no --tokenizer-weights: training the tokenizer first (${tokenizerDir})`);
    await trainCommand(host, { ...flags, target: 'tokenizer', out: tokenizerDir, steps: flags.tokenizerSteps, resume: listCheckpoints(tokenizerDir).length > 0 }, write);
    return trainCommand(host, { ...flags, tokenizerWeights: tokenizerDir }, write);
  }

  fs.mkdirSync(outDir, { recursive: true });
  const engine = await TfjsEngine.create();
  const generator = host.build(resolved, { engine, draws: SeededDraws.fromSeed(options.seed) });
  const weightsNote = initialWeights(generator, flags, target, options.seed, !!flags.resume && resuming);
  const dataset = await openDataset(flags.data, { resolution: generator.tokenizer.resolution[0], preprocess: options.preprocess });
  const nullClass = nullClassOf(generator.backbone);
  if (target === 'generator' && nullClass !== undefined && dataset.classes > nullClass) {
    throw new TesseraError('CONFIG_INVALID', `\`${dataset.source}\` has ${dataset.classes} classes but the backbone of \`${flags.config}\` is built for ${nullClass}; set its \`classes\` / \`classNum\` option to at least ${dataset.classes}`, {
      data: { datasetClasses: dataset.classes, modelClasses: nullClass },
    });
  }
  const batcher = options.cacheLatents
    ? await latentBatcher(generator, dataset, outDir, options)
    : new Batcher(dataset, options.batchSize, options.seed, { flip: options.flip });
  const trainer = new Trainer(generator, options);

  const record = { ...(resolvedConfigRecord(resolved) as Record<string, unknown>), training: { ...options, defaulted }, run: { target, data: path.resolve(flags.data), dataset: dataset.source, weights: weightsNote } };
  writeFileAtomic(path.join(outDir, 'config.resolved.json'), `${JSON.stringify(record, null, 2)}\n`);

  const previewCount = Math.min(options.sampleImages, dataset.length);
  const preview = target === 'tokenizer' ? await previewImages(dataset, previewCount) : undefined;
  const progress = createProgress(`train ${config.name} (${target})`);
  const first: { line?: MetricsLine } = {};
  let last: MetricsLine | undefined;
  try {
    const result = await runTraining({
      trainer, data: batcher, outDir, resume: flags.resume, config,
      onStep: (m) => {
        first.line ??= m;
        last = m;
        progress.update(m.step, options.steps, `loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} ${m.imagesPerSecond.toFixed(1)} img/s`);
      },
      sample: (file) => (preview
        ? saveReconstructionGrid(trainer, file, preview, previewCount)
        : saveSampleGrid(trainer, file, { count: options.sampleImages, settings: config.sampling, classNames: dataset.classNames })),
    });
    progress.stop();
    const steps = result.step - result.startStep;
    const perStep = last && first.line && steps > 1 ? (last.seconds - first.line.seconds) / (steps - 1) : undefined;
    write(`${config.name} (${target}): steps ${result.startStep + 1}..${result.step}, loss ${first.line?.loss.toFixed(4) ?? '-'} → ${last?.loss.toFixed(4) ?? '-'}${perStep !== undefined ? `, ${perStep.toFixed(3)} s/step` : ''}; ${outDir}`);
  } finally {
    progress.stop();
    trainer.dispose();
    for (const m of [generator.tokenizer.module, generator.backbone.module, generator.head.module]) m.dispose();
  }
}

/** The data as tokens from a latent cache in the run folder, built (or resumed) first. */
async function latentBatcher(generator: Generator, dataset: Dataset, outDir: string, options: TrainingOptions): Promise<LatentBatcher> {
  const progress = createProgress('latent cache');
  try {
    const build = await buildLatentCache(generator.tokenizer, dataset, {
      file: path.join(outDir, 'latents.safetensors'), engine: generator.engine, flip: options.flip,
      onProgress: (done, total) => progress.update(done, total, 'images encoded'),
    });
    return new LatentBatcher(CachedLatentDataset.open(build.file, build.key), options.batchSize, options.seed);
  } finally {
    progress.stop();
  }
}

async function previewImages(dataset: { get(i: number): Promise<{ image: Float32Array }> }, count: number): Promise<Float32Array> {
  const samples = await Promise.all(Array.from({ length: count }, (_, i) => dataset.get(i)));
  const size = samples[0].image.length;
  const out = new Float32Array(count * size);
  samples.forEach((s, i) => out.set(s.image, i * size));
  return out;
}
