/**
 * onnxruntime-node, used synchronously. The package's public `InferenceSession` is
 * promise-based, but its native binding loads models and runs them synchronously (the
 * public class only defers the call with `setImmediate`). The engine contract is
 * synchronous (`readSync`, eager ops), so the binding is used directly: its
 * `InferenceSession.loadModel(buffer, offset, length, options)` and
 * `run(feeds, fetches, options)`, with tensors of `onnxruntime-common`.
 *
 * Loaded lazily: importing core never loads onnxruntime, so a machine without it still
 * runs the tfjs engine.
 */
import { TesseraError } from '../../errors';
import type { TypedData } from '../engine';
import type { DType } from '../ops';

export type OnnxDevice = 'cpu' | 'cuda';

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, { data: TypedData; dims: readonly number[] }>;
  endProfiling(): string;
  dispose(): void;
}

/**
 * Developer profiling: with `TESSERA_ORT_PROFILE=<prefix>` every session records
 * onnxruntime's per-node timings, written (one JSON trace per session, named from the
 * prefix) when the session is disposed or `endOrtProfiling` is called.
 */
const PROFILE_PREFIX = process.env.TESSERA_ORT_PROFILE;
const profiled = new Set<NativeSession>();

/** Ends profiling of every live session; returns the trace files written. */
export function endOrtProfiling(): string[] {
  const files = [...profiled].map((s) => s.endProfiling());
  profiled.clear();
  return files;
}

interface OrtModules {
  binding: { InferenceSession: new () => NativeSession; listSupportedBackends(): { name: string; bundled: boolean }[] };
  initOrt(): void;
  Tensor: new (type: string, data: TypedData, dims: readonly number[]) => unknown;
}

let ort: OrtModules | undefined;

function loadOrt(): OrtModules {
  if (ort) return ort;
  try {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const b = require('onnxruntime-node/dist/binding') as Pick<OrtModules, 'binding' | 'initOrt'>;
    const pkg = require('onnxruntime-node') as { Tensor: OrtModules['Tensor'] }; // re-exports onnxruntime-common's Tensor
    /* eslint-enable @typescript-eslint/no-require-imports */
    b.initOrt();
    ort = { binding: b.binding, initOrt: b.initOrt, Tensor: pkg.Tensor };
    return ort;
  } catch (e) {
    throw new TesseraError('ENGINE_UNAVAILABLE', 'the onnx engine needs `onnxruntime-node` (with its native binding for this platform); it could not be loaded. Install it, or use engine `tfjs`.', {
      cause: e,
      data: { package: 'onnxruntime-node' },
    });
  }
}

/** Execution providers of the installed onnxruntime-node (`bundled`: its binaries are present). */
export function onnxBackends(): { name: string; bundled: boolean }[] {
  return loadOrt().binding.listSupportedBackends();
}

export interface SessionSettings {
  device: OnnxDevice;
  /** Intra-op threads. */
  threads: number;
  /** `basic` creates sessions in ~1 ms (eager one-op graphs); `all` fuses (traced graphs). */
  optimization: 'disabled' | 'basic' | 'extended' | 'all';
  /** Busy-waiting worker threads: lower latency, but they fight other processes for cores. */
  spinning: boolean;
}

/** A host tensor crossing into or out of a session. */
export interface HostValue {
  dtype: DType;
  shape: readonly number[];
  data: TypedData;
}

const ORT_TYPE: Record<DType, string> = { float32: 'float32', int32: 'int32', bool: 'bool' };

/** One loaded model. */
export class OrtSession {
  private native: NativeSession | undefined;

  constructor(bytes: Uint8Array, readonly settings: SessionSettings) {
    const { binding } = loadOrt();
    const native = new binding.InferenceSession();
    const options = {
      executionProviders: [{ name: settings.device }],
      intraOpNumThreads: settings.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: settings.optimization,
      extra: { session: { intra_op: { allow_spinning: settings.spinning ? '1' : '0' } } },
      ...(PROFILE_PREFIX ? { enableProfiling: true, profileFilePrefix: PROFILE_PREFIX } : {}),
    };
    try {
      native.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, options);
    } catch (e) {
      throw new TesseraError('OP_UNSUPPORTED', `onnxruntime refused a traced graph: ${(e as Error).message}`, { cause: e });
    }
    this.native = native;
    if (PROFILE_PREFIX) profiled.add(native);
  }

  run(feeds: Map<string, HostValue>, outputNames: readonly string[]): TypedData[] {
    if (!this.native) throw new TesseraError('ENGINE_UNAVAILABLE', 'this onnx session was disposed');
    const { Tensor } = loadOrt();
    const ortFeeds: Record<string, unknown> = {};
    for (const [name, v] of feeds) ortFeeds[name] = new Tensor(ORT_TYPE[v.dtype], v.data, v.shape);
    const fetches: Record<string, null> = {};
    for (const name of outputNames) fetches[name] = null;
    const out = this.native.run(ortFeeds, fetches, {});
    return outputNames.map((n) => out[n].data);
  }

  dispose(): void {
    if (this.native && profiled.delete(this.native)) this.native.endProfiling();
    this.native?.dispose();
    this.native = undefined;
  }
}
