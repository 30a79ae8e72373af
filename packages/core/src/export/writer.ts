/**
 * An export folder under construction. Graphs are traced one at a time by the onnx
 * engine from the modules' own code (`OnnxEngine.trace`), finished into `.onnx` files
 * beside one shared `weights.bin` (onnx-file.ts), and the whole folder appears at once:
 * everything is written into a sibling temporary folder that replaces the target by a
 * rename, so a failed or interrupted export never leaves a half-written folder.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '../engine/ops';
import type { OnnxEngine } from '../engine/onnx/engine';
import type { TensorTree } from '../engine/onnx/trace';
import { TesseraError } from '../errors';
import { finishGraph, GraphPort, WeightFile } from './onnx-file';

export const MANIFEST_FILE = 'tessera-export.json';
export const WEIGHTS_FILE = 'weights.bin';

/** One graph input to trace: its manifest name, shape and dtype. */
export interface PortSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

/** A graph of the manifest: file, inputs and outputs with shapes and dtypes. */
export interface GraphEntry {
  file: string;
  /** What the graph computes, in a sentence. */
  description: string;
  inputs: GraphPort[];
  outputs: GraphPort[];
}

export class ExportWriter {
  readonly graphs: Record<string, GraphEntry> = {};
  private readonly tmp: string;
  private readonly weights: WeightFile;
  private closed = false;

  constructor(private readonly engine: OnnxEngine, readonly out: string, private readonly onGraph?: (name: string) => void) {
    const target = path.resolve(out);
    mkdirSync(path.dirname(target), { recursive: true });
    this.tmp = path.join(path.dirname(target), `.${path.basename(target)}.tessera-tmp-${process.pid}-${Date.now()}`);
    mkdirSync(this.tmp);
    this.weights = new WeightFile(path.join(this.tmp, WEIGHTS_FILE), WEIGHTS_FILE);
  }

  /**
   * Traces `fn` on inputs of the given specs and writes `<name>.onnx`. `fn` returns its
   * outputs as an array, in the order of `outputs`.
   */
  graph(name: string, description: string, inputs: PortSpec[], outputs: string[], fn: (...xs: Tensor[]) => Tensor[]): GraphEntry {
    if (this.graphs[name]) throw new TesseraError('USAGE', `graph \`${name}\` was exported twice`);
    const traced = this.engine.trace((...xs) => fn(...xs) as TensorTree, inputs.map((p) => ({ shape: p.shape, dtype: p.dtype })), { name });
    try {
      const done = finishGraph(traced, inputs.map((p) => p.name), outputs, this.weights);
      const file = `${name}.onnx`;
      writeFileSync(path.join(this.tmp, file), done.bytes);
      const entry = { file, description, inputs: done.inputs, outputs: done.outputs };
      this.graphs[name] = entry;
      this.onGraph?.(name);
      return entry;
    } finally {
      traced.dispose();
    }
  }

  /** Bytes in the shared weights file so far. */
  get weightBytes(): number {
    return this.weights.bytes;
  }

  /** Writes the manifest and moves the folder into place (replacing an older export there). */
  commit(manifest: object): { weightBytes: number; dedupedBytes: number } {
    this.weights.close();
    this.closed = true;
    writeFileSync(path.join(this.tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    const target = path.resolve(this.out);
    const old = `${this.tmp}-old`;
    const hadOld = existsSync(target);
    if (hadOld) renameSync(target, old);
    try {
      renameSync(this.tmp, target);
    } catch (e) {
      if (hadOld) renameSync(old, target);
      throw e;
    }
    if (hadOld) rmSync(old, { recursive: true, force: true });
    return { weightBytes: this.weights.bytes, dedupedBytes: this.weights.saved };
  }

  /** Removes the temporary folder (after a failure). */
  abort(): void {
    if (!this.closed) this.weights.close();
    this.closed = true;
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
