/**
 * The safetensors format (huggingface/safetensors, `docs/source/index.mdx` "Format"):
 * an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the
 * data section. Offsets are relative to the data section, which the tensors must cover
 * exactly, without holes or overlaps (the reference implementation rejects anything else,
 * and so do we: a file that breaks these rules is truncated or was not written by a
 * safetensors writer). Writing follows the reference layout: tensors sorted by item size
 * (largest first) then name, header padded with spaces to a multiple of 8 bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TesseraError } from '../errors';
import { numel, type HostDType, type HostTensor } from '../tensor/host';
import { ARRAY_CLASS, ITEM_SIZE, bufferSource, bytesOf, typedArrayOver, withFileSource, type ByteSource } from './bytes';

export interface Safetensors {
  /** Tensors in data-section order. */
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

/** Tensors to write, by name. */
export type TensorsByName = ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>;

const DTYPE_OF_TAG: Readonly<Record<string, HostDType>> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const TAG_OF_DTYPE = Object.fromEntries(Object.entries(DTYPE_OF_TAG).map(([tag, dtype]) => [dtype, tag])) as Record<HostDType, string>;

/** The reference implementation refuses larger headers; so do we, before allocating one. */
const MAX_HEADER_BYTES = 100_000_000;

/** Parses a whole safetensors file held in memory. `file` names it in errors. */
export function readSafetensors(bytes: Uint8Array, file: string): Safetensors {
  return readFrom(bufferSource(bytes), file);
}

/** Reads a safetensors file, pulling each tensor from disk (works past 2 GiB). */
export function readSafetensorsFile(filePath: string): Safetensors {
  return withFileSource(filePath, (source) => readFrom(source, filePath));
}

interface Entry {
  name: string;
  dtype: HostDType;
  shape: number[];
  begin: number;
  end: number;
}

function readFrom(source: ByteSource, file: string): Safetensors {
  const corrupt: Corrupt = (what, data = {}, cause) =>
    new TesseraError('CHECKPOINT_CORRUPT', `\`${file}\`: ${what}`, { data: { file, ...data }, cause });
  if (source.size < 8) throw corrupt(`the file has ${source.size} bytes, fewer than the 8-byte header length; the file is truncated or not a safetensors file`);
  const headerLength = new DataView(source.copy(0, 8)).getBigUint64(0, true);
  if (headerLength > BigInt(source.size - 8) || headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw corrupt(`the header length ${headerLength} exceeds the ${source.size - 8} bytes after it (limit ${MAX_HEADER_BYTES}); the file is truncated or not a safetensors file`, {
      headerLength: Number(headerLength),
    });
  }
  const dataStart = 8 + Number(headerLength);
  const dataLength = source.size - dataStart;
  const { entries, metadata } = parseHeader(source.read(8, dataStart - 8), file, corrupt);
  checkLayout(entries, dataLength, corrupt);

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const count = numel(e.shape);
    const data = typedArrayOver(e.dtype, source.copy(dataStart + e.begin, e.end - e.begin), count);
    if (e.dtype === 'bool' && (data as Uint8Array).some((v) => v > 1)) {
      throw corrupt(`tensor \`${e.name}\` has dtype BOOL but holds bytes other than 0 and 1`, { tensor: e.name });
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

type Corrupt = (what: string, data?: Record<string, unknown>, cause?: unknown) => TesseraError;

function parseHeader(bytes: Uint8Array, file: string, corrupt: Corrupt): { entries: Entry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw corrupt(`the header is not valid UTF-8 JSON (${(e as Error).message}); the file is corrupt or not a safetensors file`, {}, e);
  }
  if (!isPlainObject(header)) throw corrupt('the header is not a JSON object; the file is corrupt or not a safetensors file');
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(info, corrupt);
    else entries.push(parseEntry(name, info, file, corrupt));
  }
  return { entries, metadata };
}

function parseMetadata(info: unknown, corrupt: Corrupt): Record<string, string> {
  if (!isPlainObject(info)) throw corrupt('`__metadata__` is not an object of strings');
  for (const [key, value] of Object.entries(info)) {
    if (typeof value !== 'string') throw corrupt(`\`__metadata__.${key}\` is ${JSON.stringify(value)}, not a string`, { key });
  }
  return info as Record<string, string>;
}

function parseEntry(name: string, info: unknown, file: string, corrupt: Corrupt): Entry {
  const bad = (what: string): TesseraError => corrupt(`tensor \`${name}\` ${what}; the header is corrupt`, { tensor: name });
  if (!isPlainObject(info)) throw bad('is not an object with dtype, shape and data_offsets');
  const { dtype: tag, shape, data_offsets: offsets } = info;
  if (typeof tag !== 'string') throw bad(`has dtype ${JSON.stringify(tag)}, not a string`);
  const dtype = DTYPE_OF_TAG[tag];
  if (dtype === undefined) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\`: tensor \`${name}\` has dtype ${tag}; Tessera reads ${Object.keys(DTYPE_OF_TAG).join(', ')}. Convert the tensor to one of them before saving.`, {
      data: { file, tensor: name, dtype: tag },
    });
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
  if (!Number.isSafeInteger(numel(shape))) throw bad(`has shape [${shape.join(', ')}] with too many elements`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[1] < offsets[0]) {
    throw bad(`has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with 0 <= begin <= end`);
  }
  return { name, dtype, shape, begin: offsets[0], end: offsets[1] };
}

/** Tensors must tile the data section exactly: in range, contiguous, no overlap, right sizes. */
function checkLayout(entries: Entry[], dataLength: number, corrupt: Corrupt): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    const where = `tensor \`${e.name}\` data_offsets [${e.begin}, ${e.end}]`;
    const data = { tensor: e.name, dataOffsets: [e.begin, e.end], dataLength };
    if (e.end > dataLength) throw corrupt(`${where} exceed the data section of ${dataLength} bytes; the file is truncated or corrupt`, data);
    if (e.begin !== expected) {
      const problem = e.begin < expected ? `overlap the previous tensor, which ends at ${expected}` : `leave a hole after byte ${expected}`;
      throw corrupt(`${where} ${problem}; the file is corrupt`, data);
    }
    const expectedBytes = numel(e.shape) * ITEM_SIZE[e.dtype];
    if (e.end - e.begin !== expectedBytes) {
      throw corrupt(`${where} span ${e.end - e.begin} bytes, but shape [${e.shape.join(', ')}] of ${TAG_OF_DTYPE[e.dtype]} needs ${expectedBytes}; the file is corrupt`, data);
    }
    expected = e.end;
  }
  if (expected !== dataLength) {
    throw corrupt(`the tensors cover ${expected} bytes of the ${dataLength}-byte data section; the file has trailing bytes or is corrupt`, { dataLength, covered: expected });
  }
}

/** Serializes tensors (and optional string metadata) into safetensors bytes. */
export function writeSafetensors(tensors: TensorsByName, metadata?: Record<string, string>): Uint8Array {
  const plan = planFile(tensors, metadata);
  const out = new Uint8Array(plan.header.length + plan.dataLength);
  out.set(plan.header, 0);
  let at = plan.header.length;
  for (const [, t] of plan.ordered) {
    out.set(bytesOf(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file atomically (creating its folder if needed): the bytes go to a
 * temporary file in the same directory, are flushed to disk, and only then renamed over
 * `filePath`, so a crash or a full disk never leaves a half-written weights file under
 * the real name.
 */
export function writeSafetensorsFile(filePath: string, tensors: TensorsByName, metadata?: Record<string, string>): void {
  const plan = planFile(tensors, metadata);
  const dir = path.dirname(path.resolve(filePath));
  // Like util/atomic's writeFileAtomic, but streams each tensor instead of building the whole file in memory.
  const temp = path.join(dir, `.tessera-tmp-${process.pid}-${randomBytes(4).toString('hex')}-${path.basename(filePath)}`);
  fs.mkdirSync(dir, { recursive: true });
  let fd = fs.openSync(temp, 'wx');
  try {
    writeAll(fd, plan.header);
    for (const [, t] of plan.ordered) writeAll(fd, bytesOf(t.data));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(temp, filePath);
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw e;
  }
  syncDirectory(dir);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** Makes the rename itself durable; some platforms cannot open a directory, which is fine. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Best effort only: the file is complete either way.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

interface FilePlan {
  header: Uint8Array;
  ordered: [string, HostTensor][];
  dataLength: number;
}

function planFile(tensors: TensorsByName, metadata: Record<string, string> | undefined): FilePlan {
  const entries: [string, HostTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of entries) checkWritable(name, t);
  // Largest item size first keeps every tensor aligned relative to the data section.
  const ordered = entries.sort(([an, a], [bn, b]) => ITEM_SIZE[b.dtype] - ITEM_SIZE[a.dtype] || (an < bn ? -1 : an > bn ? 1 : 0));
  const json: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new TesseraError('CHECKPOINT_UNSUPPORTED', `safetensors metadata \`${key}\` is ${typeof value}; metadata values must be strings (JSON.stringify them)`, { data: { key } });
      }
    }
    json.__metadata__ = metadata;
  }
  let dataLength = 0;
  for (const [name, t] of ordered) {
    json[name] = { dtype: TAG_OF_DTYPE[t.dtype], shape: t.shape, data_offsets: [dataLength, dataLength + t.data.byteLength] };
    dataLength += t.data.byteLength;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, ordered, dataLength };
}

function checkWritable(name: string, t: HostTensor): void {
  if (name === '__metadata__') {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', 'a tensor cannot be named `__metadata__` in a safetensors file; rename it', { data: { tensor: name } });
  }
  if (!(t.dtype in TAG_OF_DTYPE)) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `tensor \`${name}\` has dtype ${String(t.dtype)}; safetensors output supports ${Object.keys(TAG_OF_DTYPE).join(', ')}`, {
      data: { tensor: name, dtype: t.dtype },
    });
  }
  const cls = ARRAY_CLASS[t.dtype];
  if (!(t.data instanceof cls)) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `tensor \`${name}\` has dtype ${t.dtype}, whose data must be a ${cls.name}, but it is a ${t.data.constructor.name}`, {
      data: { tensor: name, dtype: t.dtype },
    });
  }
  if (!t.shape.every(isCount) || numel(t.shape) !== t.data.length) {
    throw new TesseraError('SHAPE_MISMATCH', `tensor \`${name}\` has shape [${t.shape.join(', ')}] but ${t.data.length} elements`, {
      data: { tensor: name, shape: [...t.shape], length: t.data.length },
    });
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
