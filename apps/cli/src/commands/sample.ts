/**
 * `tessera sample`: class labels to a labelled PNG grid with any generator config. The
 * generator is built through the plugin host, weights come from the official files
 * (generator.ts), the core `Sampler` runs the direction's loop with progress per AR
 * step, and the resolved config (defaults filled, which keys were defaulted, the
 * sampling settings used, seed, labels and weight files) is written beside the grid.
 * `--dry-run` builds every module with lazy random weights and prints parameter counts
 * without allocating them.
 *
 * Guidance: Tessera's `cfg` is the guidance scale s of `s·cond − (s−1)·uncond` (1 = none).
 * MAR's and FAR's cfg is s as it is; VAR's and HART's cfg c is s − 1 (VAR's README
 * cfg 1.5 is `--cfg 2.5` here).
 */
import * as path from 'node:path';
import { parseSettings, readContextFile, Rng, Sampler, saveImageGrid, TesseraError, writeFileAtomic } from '@tessera/core';
import type { Engine, PluginHost, SamplerSettingsInput } from '@tessera/core';
import { resolvedConfigRecord } from './config';
import {
  buildGenerator, createEngine, disposeGenerator, disposeTokens, loadGeneratorWeights, nonNegativeInt, parameterCounts, parseClassList, positiveInt,
  type ParameterCounts, withRunDir } from '../generator';
import { createProgress } from '../progress';

export interface SampleFlags {
  config: string;
  weights?: string;
  key?: string;
  tokenizerWeights?: string;
  tokenizerKey?: string;
  randomWeights?: boolean;
  class?: string[];
  context?: string;
  n?: string;
  cfg?: string;
  cfgSchedule?: string;
  topK?: string;
  topP?: string;
  temperature?: string;
  diffusionSteps?: string;
  seed?: string;
  batch?: string;
  engine?: string;
  device?: string;
  precision?: string;
  out: string;
  dryRun?: boolean;
  json?: boolean;
}

/** A number flag; `none` where the setting can be switched off. */
function numberFlag(name: string, value: string, allowNone = false): number | null {
  if (allowNone && value === 'none') return null;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new TesseraError('USAGE', `${name} must be a number${allowNone ? ' or `none`' : ''}, got \`${value}\``, { data: { flag: name, value } });
  }
  return n;
}

/** The sampling settings flags given, as overrides of the config's `sampling` section. */
export function samplingOverrides(f: SampleFlags): SamplerSettingsInput {
  const o: SamplerSettingsInput = {};
  if (f.cfg !== undefined) o.cfg = numberFlag('--cfg', f.cfg) as number;
  if (f.cfgSchedule !== undefined) o.cfgSchedule = f.cfgSchedule as SamplerSettingsInput['cfgSchedule'];
  if (f.temperature !== undefined) o.temperature = numberFlag('--temperature', f.temperature) as number;
  if (f.topK !== undefined) o.topK = numberFlag('--top-k', f.topK, true);
  if (f.topP !== undefined) o.topP = numberFlag('--top-p', f.topP, true);
  if (f.diffusionSteps !== undefined) o.diffusionSteps = f.diffusionSteps;
  return o;
}

const group = (n: number): string => n.toLocaleString('en-US');

export function formatCounts(name: string, plugins: Record<'tokenizer' | 'backbone' | 'head', string>, c: ParameterCounts): string {
  const rows: [string, string, number][] = [
    ['tokenizer', plugins.tokenizer, c.tokenizer],
    ['backbone', plugins.backbone, c.backbone],
    ['head', plugins.head, c.head],
    ['transformer', '(backbone + head)', c.transformer],
    ['total', '', c.total],
  ];
  const w = Math.max(...rows.map((r) => group(r[2]).length));
  return [`${name}: parameters (lazy random weights, nothing allocated; buffers not counted)`,
    ...rows.map(([slot, what, n]) => `  ${slot.padEnd(12)}${what.padEnd(19)}${group(n).padStart(w)}`)].join('\n');
}

/**
 * Labels of the run: the classes given (cycled to `n`), else `n` classes drawn from the
 * seed. With a context file, one conditional image per context row (label 0: the label
 * only says conditional; `--class null` makes every image unconditional).
 */
function runLabels(flags: SampleFlags, classes: number, seed: number, contextRows?: number): (number | null)[] {
  const given = parseClassList(flags.class);
  if (contextRows !== undefined) {
    if (given && given.some((c) => c !== null)) throw new TesseraError('USAGE', '--class takes no class with --context (the context conditions the images); only `--class null` for unconditional images', { data: { flag: '--class' } });
    const n = positiveInt('--n', flags.n, contextRows);
    if (n !== contextRows) throw new TesseraError('USAGE', `--n ${n} differs from the ${contextRows} rows of --context ${flags.context}; one image per context row`, { data: { flag: '--n' } });
    return Array.from({ length: n }, () => (given ? null : 0));
  }
  const n = positiveInt('--n', flags.n, given?.length ?? 16);
  if (given) return Array.from({ length: n }, (_, i) => given[i % given.length]);
  const rng = new Rng(seed).fork(1);
  return Array.from({ length: n }, () => rng.integer(0, classes));
}

/** Where the resolved config of an output file goes: `grid.png` → `grid.config.json`. */
export function recordPath(out: string): string {
  const ext = path.extname(out);
  return `${ext ? out.slice(0, -ext.length) : out}.config.json`;
}

export async function sampleCommand(host: PluginHost, given: SampleFlags, write: (s: string) => void): Promise<void> {
  const flags = withRunDir(given);
  const seed = nonNegativeInt('--seed', flags.seed, 0);
  const engine: Engine = await createEngine(flags.engine, flags.device, flags.precision);
  const { resolved, generator } = buildGenerator(host, flags.config, engine, seed);
  if (flags.dryRun) {
    const counts = parameterCounts(generator);
    const plugins = { tokenizer: resolved.config.tokenizer.use, backbone: resolved.config.backbone.use, head: resolved.config.head.use };
    write(flags.json ? JSON.stringify({ name: resolved.config.name, config: flags.config, plugins, parameters: counts }, null, 2) : formatCounts(resolved.config.name, plugins, counts));
    return;
  }
  try {
    const settings = parseSettings({ ...resolved.config.sampling, ...samplingOverrides(flags) });
    const sampler = new Sampler(generator);
    const context = flags.context !== undefined ? readContextFile(flags.context) : undefined;
    const labels = runLabels(flags, sampler.nullClass, seed, context?.shape[0]);
    sampler.checkContext(labels.length, context);
    const batchSize = positiveInt('--batch', flags.batch, labels.length);
    // Bad input is refused before any weights are read.
    const bad = labels.find((l) => l !== null && l >= sampler.nullClass);
    if (bad !== undefined) throw new TesseraError('USAGE', `--class ${bad} is outside 0..${sampler.nullClass - 1} (\`${resolved.config.name}\` has ${sampler.nullClass} classes); use null for an unconditional image`, { data: { label: bad } });
    const sources = loadGeneratorWeights(generator, resolved, { ...flags, seed });
    for (const line of sources) process.stderr.write(`${line}\n`);
    const progress = createProgress('sampling', { everyMs: 0 });
    let images;
    try {
      images = sampler.sample({
        labels, settings, batchSize, seed, context,
        onStep: ({ batch, batches, step, steps }) => progress.update(batch * steps + step.index + 1, batches * steps, `batch ${batch + 1}/${batches} ${step.label}`),
      });
    } finally {
      progress.stop();
    }
    const F = generator.engine;
    const [B, , H, W] = images.images.shape;
    const data = await F.read(images.images);
    F.dispose(images.images);
    disposeTokens(F, images.tokens);
    const plane = 3 * H * W;
    const cells = Array.from({ length: B }, (_, i) => Float32Array.from(data.subarray(i * plane, (i + 1) * plane)));
    const tileLabel = (l: number | null, i: number): string => (l === null ? 'null' : context ? `context ${i}` : String(l));
    await saveImageGrid(flags.out, cells, W, H, { labels: labels.map(tileLabel) });
    const record = {
      ...(resolvedConfigRecord(resolved) as Record<string, unknown>),
      sampling: settings,
      run: {
        command: 'sample', seed, labels, batchSize, engine: flags.engine, context: flags.context ?? null,
        weights: flags.weights ?? null, tokenizerWeights: flags.tokenizerWeights ?? null, randomWeights: !!flags.randomWeights,
      },
    };
    writeFileAtomic(recordPath(flags.out), `${JSON.stringify(record, null, 2)}\n`);
    write(`${flags.out}: ${B} images of ${W}x${H} (${resolved.config.name}); config in ${recordPath(flags.out)}`);
  } finally {
    disposeGenerator(generator);
  }
}
