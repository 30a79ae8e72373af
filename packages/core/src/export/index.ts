/**
 * `exportGenerator`: a generator built on the onnx engine, written as ONNX graphs plus a
 * JSON manifest (manifest.ts) that says how a sampling loop drives them. Every graph is
 * traced from the same module code that Tessera samples with; nothing is written twice.
 * Next-scale generators (VAR) export a complete loop (next-scale.ts); MAE generators
 * (MAR, FAR) export their backbone forward, the diffusion denoiser and the decoder with
 * the facts their loops need (mae.ts).
 */
import type { Generator } from '../contracts/generator';
import { OnnxEngine } from '../engine/onnx/engine';
import { TesseraError } from '../errors';
import type { GeneratorConfig } from '../plugin/config';
import { nullClassOf, parseSettings, type SamplerSettingsInput } from '../sampler/sampler';
import { EXPORT_FORMAT, EXPORT_VERSION, type ExportManifest } from './manifest';
import { exportMae, isMae } from './mae';
import { exportNextScale, isNextScale } from './next-scale';
import { ExportWriter, WEIGHTS_FILE } from './writer';

export { MANIFEST_FILE, WEIGHTS_FILE, type GraphEntry, type PortSpec } from './writer';
export type { GraphPort } from './onnx-file';
export * from './manifest';

export interface ExportOptions {
  /** The export folder (replaced as a whole). */
  out: string;
  /** Images per run of the exported graphs (default 1). */
  batch?: number;
  /** Export the classifier-free guidance rows (conditional + null-class); default: the config's `sampling.cfg` ≠ 1. */
  guided?: boolean;
  /** The config the generator was built from (recorded in the manifest). */
  config: GeneratorConfig;
  /** Sampler settings over the config's own `sampling`. */
  settings?: SamplerSettingsInput;
  /** Called after each graph is written. */
  onGraph?: (name: string) => void;
}

export interface ExportResult {
  manifest: ExportManifest;
  /** Bytes of the shared weights file, and bytes deduplication saved across graphs. */
  weightBytes: number;
  dedupedBytes: number;
}

/** Traces and writes every graph of `gen` (built on an `OnnxEngine`) and its manifest, atomically. */
export function exportGenerator(gen: Generator, options: ExportOptions): ExportResult {
  if (!(gen.engine instanceof OnnxEngine)) {
    throw new TesseraError('ENGINE_UNAVAILABLE', `export traces graphs with the onnx engine; this generator runs on \`${gen.engine.info.name}\``, { subject: 'export' });
  }
  const batch = options.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new TesseraError('USAGE', `\`batch\` must be a positive integer, got ${batch}`, { subject: 'export', data: { batch } });
  const settings = parseSettings({ ...options.config.sampling, ...options.settings });
  const guided = options.guided ?? settings.cfg !== 1;
  const nullClass = nullClassOf(gen.backbone);
  if (nullClass === undefined) throw new TesseraError('PLUGIN_INCOMPATIBLE', `the null class of \`${gen.backbone.id}\` is unknown; export covers the built-in backbones`, { subject: 'export' });
  const writer = new ExportWriter(gen.engine, options.out, options.onGraph);
  try {
    const loopOptions = { batch, guided, settings, nullClass };
    let loop: string;
    let part: ReturnType<typeof exportNextScale>;
    if (isNextScale(gen)) {
      loop = 'next-scale';
      part = exportNextScale(gen, writer, loopOptions);
    } else if (isMae(gen)) {
      loop = 'mae-diffusion';
      part = exportMae(gen, writer, loopOptions);
    } else {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', `export covers next-scale generators (direction \`scale\`, backbone \`adaln\`) and MAE generators (backbone \`mae\`, head \`diffusion\`); got \`${gen.direction.id}\` with \`${gen.backbone.id}\``, { subject: 'export' });
    }
    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      producer: 'tessera',
      generator: { name: gen.name, config: options.config },
      loop,
      batch,
      guided,
      classes: { count: nullClass, nullClass },
      sampling: settings,
      weights: { file: WEIGHTS_FILE, bytes: writer.weightBytes },
      graphs: writer.graphs,
      ...part,
      output: { images: 'images_BCHW' },
    };
    const sizes = writer.commit(manifest);
    return { manifest, ...sizes };
  } catch (e) {
    writer.abort();
    throw e;
  }
}
