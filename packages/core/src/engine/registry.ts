/**
 * Engines by name (`tfjs`, `onnx`), for the CLI and the parity runner; asking for an
 * engine that cannot load is an error naming the ones that can.
 */
import { TesseraError } from '../errors';
import type { Engine } from './engine';
import { TfjsEngine } from './tfjs/engine';
import { OnnxEngine } from './onnx/engine';

/** Where an engine runs (`--device`); engines without a choice ignore it. */
export interface EngineCreateOptions {
  device?: 'cpu' | 'cuda' | 'auto';
}

export interface EngineFactory {
  name: string;
  describe: string;
  create(options?: EngineCreateOptions): Promise<Engine>;
}

const factories: EngineFactory[] = [
  { name: 'tfjs', describe: 'TensorFlow.js (tfjs-node-gpu / tfjs-node when installed, else wasm, else cpu); eager, with autodiff', create: () => TfjsEngine.create() },
  { name: 'onnx', describe: 'onnxruntime-node (CUDA provider when its binaries are installed, else CPU); eager one-op sessions, or traced graphs via compile(); inference only', create: (o) => OnnxEngine.create({ device: o?.device ?? 'auto' }) },
];

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
