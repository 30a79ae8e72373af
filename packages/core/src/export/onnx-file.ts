/**
 * Turning traced graphs into the files of an export folder. A traced graph embeds every
 * tensor it read as an initializer; an export holds many graphs over the same weights
 * (one backbone step per scale), so large initializers move into one shared
 * `weights.bin` as ONNX external data (deduplicated by content) and every `.onnx` file
 * stays small. Graph inputs and outputs get the readable names the manifest uses
 * instead of the tracer's `input_0`/`v123`.
 *
 * onnxruntime resolves external data relative to the model file, so the graphs must be
 * loaded from their path (`InferenceSession.create(file)`), not from bytes.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { onnx } from 'onnx-proto';
import { TesseraError } from '../errors';
import type { TracedGraph } from '../engine/onnx/trace';

/** Initializers at least this large (bytes) go to the shared weights file. */
const EXTERNAL_MIN_BYTES = 1024;
/** Offsets in the weights file are aligned so onnxruntime may map them directly. */
const ALIGNMENT = 64;

/** One input or output of an exported graph, as the manifest lists it. */
export interface GraphPort {
  name: string;
  shape: number[];
  dtype: string;
}

/** The shared weights file being written: each distinct tensor once. */
export class WeightFile {
  private readonly fd: number;
  private readonly offsets = new Map<string, number>();
  private size = 0;
  /** Bytes written, and bytes that deduplication saved. */
  bytes = 0;
  saved = 0;

  constructor(readonly file: string, readonly location: string) {
    this.fd = openSync(file, 'w');
  }

  /** Offset of `data` in the file, appending it unless the same bytes are there already. */
  place(data: Uint8Array): number {
    const key = `${data.byteLength}:${createHash('sha1').update(data).digest('hex')}`;
    const hit = this.offsets.get(key);
    if (hit !== undefined) {
      this.saved += data.byteLength;
      return hit;
    }
    const pad = (ALIGNMENT - (this.size % ALIGNMENT)) % ALIGNMENT;
    if (pad) writeSync(this.fd, new Uint8Array(pad));
    const offset = this.size + pad;
    let done = 0;
    while (done < data.byteLength) done += writeSync(this.fd, data, done, data.byteLength - done);
    this.size = offset + data.byteLength;
    this.bytes += data.byteLength;
    this.offsets.set(key, offset);
    return offset;
  }

  close(): void {
    closeSync(this.fd);
  }
}

type OnnxProto = typeof onnx;
let proto: OnnxProto | undefined;

function onnxProto(): OnnxProto {
  if (!proto) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      proto = (require('onnx-proto') as { onnx: OnnxProto }).onnx;
    } catch (e) {
      throw new TesseraError('ENGINE_UNAVAILABLE', '`tessera export` needs the `onnx-proto` package; it is not installed', { cause: e });
    }
  }
  return proto;
}

/**
 * The `.onnx` bytes of `graph` with its inputs and outputs renamed (in order) and its
 * large initializers placed in `weights`. Returns the bytes and the renamed ports.
 */
export function finishGraph(graph: TracedGraph, inputNames: readonly string[], outputNames: readonly string[], weights: WeightFile): { bytes: Uint8Array; inputs: GraphPort[]; outputs: GraphPort[] } {
  if (inputNames.length !== graph.inputs.length || outputNames.length !== graph.outputs.length) {
    throw new TesseraError('OP_UNSUPPORTED', `export names ${inputNames.length} inputs and ${outputNames.length} outputs for a graph with ${graph.inputs.length} and ${graph.outputs.length}`);
  }
  const P = onnxProto();
  const model = P.ModelProto.decode(graph.model);
  const g = model.graph as onnx.GraphProto;
  const rename = new Map<string, string>();
  graph.inputs.forEach((v, i) => rename.set(v.name, inputNames[i]));
  graph.outputs.forEach((v, i) => rename.set(v.name, outputNames[i]));
  const to = (n: string): string => rename.get(n) ?? n;
  for (const node of g.node) {
    node.input = (node.input ?? []).map(to);
    node.output = (node.output ?? []).map(to);
  }
  for (const v of [...g.input, ...g.output]) v.name = to(v.name as string);
  for (const init of g.initializer) {
    const raw = init.rawData;
    if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES) continue;
    const offset = weights.place(raw);
    (init as { rawData: Uint8Array | null }).rawData = null; // external data: no raw_data field at all
    init.dataLocation = P.TensorProto.DataLocation.EXTERNAL;
    init.externalData = [
      { key: 'location', value: weights.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ];
  }
  const port = (name: string, v: { shape: readonly number[]; dtype: string }): GraphPort => ({ name, shape: [...v.shape], dtype: v.dtype });
  return {
    bytes: P.ModelProto.encode(model).finish(),
    inputs: graph.inputs.map((v, i) => port(inputNames[i], v)),
    outputs: graph.outputs.map((v, i) => port(outputNames[i], v)),
  };
}
