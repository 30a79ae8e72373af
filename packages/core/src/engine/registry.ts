/**
 * Engines by name (`tfjs`, `onnx`), for the CLI and the parity runner; asking for an
 * engine that cannot load is an error naming the ones that can.
 */
import { TesseraError } from '../errors';
import type { Engine } from './engine';
import { TfjsEngine } from './tfjs/engine';
import { OnnxEngine } from './onnx/engine';
import { onnxBackends } from './onnx/runtime';

/** Where an engine runs (`--device`); engines without a choice ignore it. */
export interface EngineCreateOptions {
  device?: 'cpu' | 'cuda' | 'auto';
  /** onnx: `int8` lowers traced linear layers to int8 GEMMs (`--precision`); others ignore it. */
  precision?: (typeof PRECISIONS)[number];
}

export interface EngineFactory {
  name: string;
  describe: string;
  create(options?: EngineCreateOptions): Promise<Engine>;
}

const factories: EngineFactory[] = [
  { name: 'tfjs', describe: 'TensorFlow.js (tfjs-node-gpu / tfjs-node when installed, else wasm, else cpu); eager, with autodiff', create: () => TfjsEngine.create() },
  { name: 'onnx', describe: 'onnxruntime-node (CUDA provider when its binaries are installed, else CPU); eager one-op sessions, or traced graphs via compile(); inference only', create: (o) => OnnxEngine.create({ device: o?.device ?? 'auto', precision: o?.precision ?? 'fp32' }) },
];

export const PRECISIONS = ['fp32', 'int8', 'int8-conv'] as const;

/** A `--precision` value, checked: `fp32`, `int8` or `int8-conv`. */
export function parsePrecision(value: string): (typeof PRECISIONS)[number] {
  if ((PRECISIONS as readonly string[]).includes(value)) return value as (typeof PRECISIONS)[number];
  throw new TesseraError('USAGE', `precision \`${value}\` is not one of ${PRECISIONS.map((p) => `\`${p}\``).join(', ')}`, { data: { requested: value, available: [...PRECISIONS] } });
}

export const DEVICES = ['cpu', 'cuda', 'auto'] as const;
export type Device = (typeof DEVICES)[number];

/** A `--device` value, checked: `cpu`, `cuda` or `auto`. */
export function parseDevice(value: string): Device {
  if ((DEVICES as readonly string[]).includes(value)) return value as Device;
  throw new TesseraError('USAGE', `device \`${value}\` is not one of ${DEVICES.map((d) => `\`${d}\``).join(', ')}`, { data: { requested: value, available: [...DEVICES] } });
}

/**
 * The engine that sampling uses when none is named: `onnx` (compiled graphs, several
 * times faster) where onnxruntime-node loads on this machine, else `tfjs`.
 */
export function defaultSamplingEngine(): 'onnx' | 'tfjs' {
  try {
    onnxBackends();
    return 'onnx';
  } catch {
    return 'tfjs';
  }
}

/** Creates the engine `name` on `device` (`auto` by default); an unknown name is an `ENGINE_UNAVAILABLE` listing the known ones. */
export function createEngine(name: string, options: EngineCreateOptions = {}): Promise<Engine> {
  const [factory] = resolveEngines(name === 'all' ? '' : name);
  return factory.create(options);
}

export function registerEngine(f: EngineFactory): void {
  const i = factories.findIndex((x) => x.name === f.name);
  if (i >= 0) factories[i] = f;
  else factories.push(f);
}

export function engineFactories(): readonly EngineFactory[] {
  return factories;
}

/** `all` gives every registered engine. */
export function resolveEngines(name: string): EngineFactory[] {
  if (name === 'all') return [...factories];
  const f = factories.find((x) => x.name === name);
  if (!f) {
    throw new TesseraError('ENGINE_UNAVAILABLE', `engine \`${name}\` is not available; available: ${factories.map((x) => `\`${x.name}\``).join(', ')}, or \`all\``, {
      data: { requested: name, available: factories.map((x) => x.name) },
    });
  }
  return [f];
}
