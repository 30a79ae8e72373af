/**
 * `tessera export`: a generator as ONNX graphs (tokenizer decoder, backbone step(s),
 * head, and for next-scale generators the quantizer's next-input step) plus
 * `tessera-export.json`, which says how a sampling loop drives them (core
 * `exportGenerator`). The graphs are traced by the onnx engine from the same module code
 * `tessera sample` runs; the folder is written atomically. `examples/ort-sample-var`
 * samples an exported VAR with onnxruntime-node alone.
 *
 * `--cfg` exports the guidance rows (conditional + null class) with the config's guidance
 * scale; `--cfg <scale>` also sets the scale (Tessera's meaning: s of s·cond − (s−1)·uncond).
 */
import { exportGenerator, OnnxEngine, TesseraError } from '@tessera/core';
import type { PluginHost } from '@tessera/core';
import { buildGenerator, disposeGenerator, loadGeneratorWeights, nonNegativeInt, positiveInt } from '../generator';
import { createProgress } from '../progress';

export interface ExportFlags {
  config: string;
  weights?: string;
  key?: string;
  tokenizerWeights?: string;
  tokenizerKey?: string;
  randomWeights?: boolean;
  seed?: string;
  out: string;
  batch?: string;
  /** `true` (flag alone) or a guidance scale. */
  cfg?: string | boolean;
  json?: boolean;
}

function guidanceFlag(cfg: string | boolean | undefined): { guided?: boolean; cfg?: number } {
  if (cfg === undefined || cfg === false) return {};
  if (cfg === true) return { guided: true };
  const s = Number(cfg);
  if (cfg.trim() === '' || !Number.isFinite(s) || s <= 0) {
    throw new TesseraError('USAGE', `--cfg must be a positive guidance scale (or no value), got \`${cfg}\``, { data: { flag: '--cfg', value: cfg } });
  }
  return { guided: true, cfg: s };
}

export async function exportCommand(host: PluginHost, flags: ExportFlags, write: (s: string) => void): Promise<void> {
  const seed = nonNegativeInt('--seed', flags.seed, 0);
  const batch = positiveInt('--batch', flags.batch, 1);
  const guidance = guidanceFlag(flags.cfg);
  const engine = await OnnxEngine.create({ device: 'cpu' });
  const { resolved, generator } = buildGenerator(host, flags.config, engine, seed);
  try {
    const sources = loadGeneratorWeights(generator, resolved, { ...flags, seed });
    const progress = createProgress('export', { everyMs: 0 });
    let graphs = 0;
    const result = exportGenerator(generator, {
      out: flags.out,
      batch,
      guided: guidance.guided,
      settings: guidance.cfg !== undefined ? { cfg: guidance.cfg } : undefined,
      config: resolved.config,
      onGraph: (name) => progress.update(++graphs, graphs, name),
    });
    progress.stop();
    const m = result.manifest;
    if (flags.json) {
      write(JSON.stringify({ out: flags.out, loop: m.loop, graphs: Object.keys(m.graphs), steps: m.steps.length, weightBytes: result.weightBytes, dedupedBytes: result.dedupedBytes, weights: sources }, null, 2));
      return;
    }
    for (const line of sources) write(line);
    write(`${Object.keys(m.graphs).length} graphs (${m.loop} loop, ${m.steps.length} steps, batch ${m.batch}${m.guided ? ', guided' : ''}) and tessera-export.json in ${flags.out}; weights.bin ${(result.weightBytes / 2 ** 20).toFixed(1)} MiB (${(result.dedupedBytes / 2 ** 20).toFixed(1)} MiB shared across graphs)`);
  } finally {
    disposeGenerator(generator);
  }
}
