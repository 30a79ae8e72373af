/**
 * The IDX format of MNIST and Fashion-MNIST (LeCun's MNIST page; zalandoresearch/
 * fashion-mnist `utils/mnist_reader.py` reads the same files): two zero bytes, a type byte
 * (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), a byte
 * with the number of dimensions, one big-endian uint32 per dimension, then the values,
 * big-endian, row-major. Files may be gzipped (`.gz`). Reading is strict: a file shorter
 * or longer than its header promises is an error naming the file and the byte counts.
 *
 * `IdxDataset` serves a `<split>-images-idx3-ubyte` / `<split>-labels-idx1-ubyte` pair.
 * The 28 x 28 grayscale digits go through the same preprocessing as any image: with the
 * default `center-crop` (ADM's `center_crop_arr`, as MAR/FAR) a 28 x 28 image and a
 * 32 x 32 target give a Pillow-bicubic upscale to 32 x 32 and a zero-offset crop, so
 * nothing is cut; the gray channel is then copied to R, G and B.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TesseraError } from '../errors';
import { numel, type HostData, type HostDType, type HostTensor } from '../tensor/host';
import { preprocessPixels } from './transforms';
import type { Dataset, Preprocess, Sample } from './types';

interface IdxType { code: number; dtype: HostDType; bytes: number }

const IDX_TYPES: readonly IdxType[] = [
  { code: 0x08, dtype: 'uint8', bytes: 1 },
  { code: 0x09, dtype: 'int8', bytes: 1 },
  { code: 0x0b, dtype: 'int16', bytes: 2 },
  { code: 0x0c, dtype: 'int32', bytes: 4 },
  { code: 0x0d, dtype: 'float32', bytes: 4 },
  { code: 0x0e, dtype: 'float64', bytes: 8 },
];

const invalid = (file: string, what: string, data: Record<string, unknown> = {}, cause?: unknown): TesseraError =>
  new TesseraError('DATASET_INVALID', `\`${file}\`: ${what}`, { subject: file, data: { file, ...data }, cause });

/** Parses IDX bytes (already gunzipped); `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file: string): HostTensor {
  if (bytes.length < 4) throw invalid(file, `has ${bytes.length} bytes, fewer than the 4-byte IDX magic; the file is truncated or not an IDX file`, { bytes: bytes.length, expected: 4 });
  if (bytes[0] !== 0 || bytes[1] !== 0) throw invalid(file, `does not start with the IDX magic (two zero bytes); got 0x${hex(bytes[0])}${hex(bytes[1])}. Is it an IDX file?`);
  const type = IDX_TYPES.find((t) => t.code === bytes[2]);
  if (!type) throw invalid(file, `has IDX type byte 0x${hex(bytes[2])}; known types are ${IDX_TYPES.map((t) => `0x${hex(t.code)} (${t.dtype})`).join(', ')}`, { typeByte: bytes[2] });
  const ndims = bytes[3];
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw invalid(file, `is truncated: its ${ndims} dimension sizes need a ${headerBytes}-byte header, the file has ${bytes.length} bytes`, { bytes: bytes.length, expected: headerBytes });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = numel(shape);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length !== expected) {
    const problem = bytes.length < expected ? 'is truncated' : 'has trailing bytes';
    throw invalid(file, `${problem}: shape [${shape.join(', ')}] of ${type.dtype} needs ${expected} bytes, the file has ${bytes.length}`, { bytes: bytes.length, expected, shape });
  }
  return { dtype: type.dtype, shape, data: decodeValues(view, headerBytes, count, type) };
}

function decodeValues(view: DataView, at: number, count: number, type: IdxType): HostData {
  switch (type.dtype) {
    case 'uint8': return new Uint8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + count));
    case 'int8': return new Int8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + count));
    case 'int16': return Int16Array.from({ length: count }, (_, i) => view.getInt16(at + 2 * i, false));
    case 'int32': return Int32Array.from({ length: count }, (_, i) => view.getInt32(at + 4 * i, false));
    case 'float32': return Float32Array.from({ length: count }, (_, i) => view.getFloat32(at + 4 * i, false));
    default: return Float64Array.from({ length: count }, (_, i) => view.getFloat64(at + 8 * i, false));
  }
}

/** Reads an IDX file, gunzipping it when its name ends in `.gz`. */
export function readIdxFile(file: string): HostTensor {
  if (!fs.existsSync(file)) throw new TesseraError('FILE_NOT_FOUND', `IDX file \`${file}\` does not exist`, { subject: file, data: { file } });
  let bytes: Uint8Array = fs.readFileSync(file);
  if (file.endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw invalid(file, `cannot be gunzipped (${(e as Error).message}); the download is truncated or the file is not gzip`, {}, e);
    }
  }
  return parseIdx(bytes, file);
}

/** IDX bytes of a tensor (uint8, int8, int16, int32, float32 or float64), big-endian. */
export function encodeIdx(t: HostTensor): Uint8Array {
  const type = IDX_TYPES.find((x) => x.dtype === t.dtype);
  if (!type) throw new TesseraError('USAGE', `IDX cannot store dtype ${t.dtype}; it stores ${IDX_TYPES.map((x) => x.dtype).join(', ')}`, { data: { dtype: t.dtype } });
  const headerBytes = 4 + 4 * t.shape.length;
  const out = new Uint8Array(headerBytes + numel(t.shape) * type.bytes);
  const view = new DataView(out.buffer);
  out[2] = type.code;
  out[3] = t.shape.length;
  t.shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const setters: Record<string, (at: number, v: number) => void> = {
    uint8: (at, v) => view.setUint8(at, v), int8: (at, v) => view.setInt8(at, v),
    int16: (at, v) => view.setInt16(at, v, false), int32: (at, v) => view.setInt32(at, v, false),
    float32: (at, v) => view.setFloat32(at, v, false), float64: (at, v) => view.setFloat64(at, v, false),
  };
  const set = setters[type.dtype];
  for (let i = 0; i < t.data.length; i++) set(headerBytes + i * type.bytes, Number(t.data[i]));
  return out;
}

/** File names of one split, as MNIST and Fashion-MNIST ship them (`-idx3-` or `.idx3-`, optionally `.gz`). */
export function findIdxPair(dir: string, split: 'train' | 'test'): { images: string; labels: string } | undefined {
  const prefix = split === 'train' ? 'train' : 't10k';
  const find = (kind: 'images' | 'labels', rank: number): string | undefined => {
    for (const sep of ['-', '.']) {
      for (const ext of ['', '.gz']) {
        const file = path.join(dir, `${prefix}-${kind}${sep}idx${rank}-ubyte${ext}`);
        if (fs.existsSync(file)) return file;
      }
    }
    return undefined;
  };
  const images = find('images', 3), labels = find('labels', 1);
  return images && labels ? { images, labels } : undefined;
}

/** A split of an IDX image set: images [N, H, W] ubyte, labels [N] of an integer type. */
export class IdxDataset implements Dataset {
  readonly length: number;
  readonly classes: number;
  readonly source: string;
  private readonly pixels: Uint8Array;
  private readonly labels: Int32Array;
  private readonly height: number;
  private readonly width: number;

  constructor(files: { images: string; labels: string }, readonly resolution: number, private readonly preprocess: Preprocess, source?: string) {
    const images = readIdxFile(files.images), labels = readIdxFile(files.labels);
    if (images.dtype !== 'uint8' || images.shape.length !== 3) {
      throw invalid(files.images, `holds ${images.dtype} [${images.shape.join(', ')}]; an image file holds ubyte [N, H, W]`, { dtype: images.dtype, shape: images.shape });
    }
    if (labels.shape.length !== 1 || !['uint8', 'int8', 'int16', 'int32'].includes(labels.dtype)) {
      throw invalid(files.labels, `holds ${labels.dtype} [${labels.shape.join(', ')}]; a label file holds integers [N]`, { dtype: labels.dtype, shape: labels.shape });
    }
    const [n, h, w] = images.shape;
    if (labels.shape[0] !== n) throw invalid(files.labels, `has ${labels.shape[0]} labels for the ${n} images of \`${files.images}\``, { labels: labels.shape[0], images: n });
    this.labels = Int32Array.from(labels.data as ArrayLike<number>);
    let max = -1;
    for (const l of this.labels) {
      if (l < 0) throw invalid(files.labels, `has a negative label ${l}`, { label: l });
      max = Math.max(max, l);
    }
    this.pixels = images.data as Uint8Array;
    this.length = n;
    this.height = h;
    this.width = w;
    this.classes = max + 1;
    this.source = source ?? files.images;
  }

  async get(index: number): Promise<Sample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new TesseraError('USAGE', `index ${index} is outside the dataset of ${this.length} images (${this.source})`, { data: { index, length: this.length } });
    }
    const plane = this.height * this.width;
    const img = { data: this.pixels.subarray(index * plane, (index + 1) * plane), width: this.width, height: this.height, channels: 1 };
    return { image: preprocessPixels(img, this.resolution, this.preprocess), label: this.labels[index] };
  }
}

const hex = (b: number): string => b.toString(16).padStart(2, '0');
