/**
 * Byte-level helpers shared by the checkpoint readers: random access to a file or a
 * buffer (released checkpoints are often larger than the 2 GiB `readFileSync` limit, so
 * the readers pull only the ranges they need), dtype sizes, and copying raw little-endian
 * bytes into properly aligned typed arrays.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { TesseraError } from '../errors';
import type { HostData, HostDType } from '../tensor/host';

/** Random read access to the bytes of one file or buffer. */
export interface ByteSource {
  readonly size: number;
  /** The bytes [offset, offset + length), possibly a view; the caller has checked the range. */
  read(offset: number, length: number): Uint8Array;
  /** The same bytes copied into a fresh ArrayBuffer (aligned for any typed array). */
  copy(offset: number, length: number): ArrayBuffer;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.subarray(offset, offset + length),
    copy: (offset, length) => {
      const out = new Uint8Array(length);
      out.set(bytes.subarray(offset, offset + length));
      return out.buffer;
    },
  };
}

/** Opens `path` for reading and runs `use` on it; the file is closed afterwards. */
export function withFileSource<T>(path: string, use: (source: ByteSource) => T): T {
  const fd = openForReading(path);
  try {
    const size = fs.fstatSync(fd).size;
    const readInto = (out: Uint8Array, offset: number): Uint8Array => {
      const length = out.length;
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, out, done, length - done, offset + done);
        if (n === 0) {
          throw new TesseraError('CHECKPOINT_CORRUPT', `\`${path}\` ended at byte ${offset + done} while reading; the file changed or is truncated`, {
            data: { file: path, offset: offset + done },
          });
        }
        done += n;
      }
      return out;
    };
    return use({
      size,
      read: (offset, length) => readInto(Buffer.allocUnsafe(length), offset),
      copy: (offset, length) => readInto(new Uint8Array(length), offset).buffer as ArrayBuffer,
    });
  } finally {
    fs.closeSync(fd);
  }
}

function openForReading(path: string): number {
  try {
    const fd = fs.openSync(path, 'r');
    if (fs.fstatSync(fd).isDirectory()) {
      fs.closeSync(fd);
      throw new TesseraError('FILE_NOT_FOUND', `\`${path}\` is a directory, not a weights file`, { data: { path, reason: 'EISDIR' } });
    }
    return fd;
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    const reason = (e as NodeJS.ErrnoException).code ?? 'unknown';
    const what = reason === 'ENOENT' || reason === 'ENOTDIR' ? 'does not exist' : `cannot be opened (${reason})`;
    throw new TesseraError('FILE_NOT_FOUND', `\`${path}\` ${what}; check the path`, { data: { path, reason }, cause: e });
  }
}

/** Bytes per element of each host dtype. */
export const ITEM_SIZE: Readonly<Record<HostDType, number>> = {
  float64: 8, int64: 8, float32: 4, int32: 4, float16: 2, bfloat16: 2, int16: 2, int8: 1, uint8: 1, bool: 1,
};

type ArrayMaker = (buffer: ArrayBufferLike, length: number) => HostData;
const MAKERS: Readonly<Record<HostDType, ArrayMaker>> = {
  float64: (b, n) => new Float64Array(b, 0, n),
  float32: (b, n) => new Float32Array(b, 0, n),
  float16: (b, n) => new Uint16Array(b, 0, n),
  bfloat16: (b, n) => new Uint16Array(b, 0, n),
  int64: (b, n) => new BigInt64Array(b, 0, n),
  int32: (b, n) => new Int32Array(b, 0, n),
  int16: (b, n) => new Int16Array(b, 0, n),
  int8: (b, n) => new Int8Array(b, 0, n),
  uint8: (b, n) => new Uint8Array(b, 0, n),
  bool: (b, n) => new Uint8Array(b, 0, n),
};

/** The typed array class that holds each dtype (what `HostTensor.data` must be). */
export const ARRAY_CLASS: Readonly<Record<HostDType, abstract new (...args: never[]) => HostData>> = {
  float64: Float64Array, float32: Float32Array, float16: Uint16Array, bfloat16: Uint16Array,
  int64: BigInt64Array, int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

/**
 * `count` little-endian elements over an aligned buffer, e.g. one from `ByteSource.copy`
 * (tensors inside a file start at arbitrary offsets, so they are copied out first).
 */
export function typedArrayOver(dtype: HostDType, buffer: ArrayBufferLike, count: number): HostData {
  assertLittleEndianHost();
  return MAKERS[dtype](buffer, count);
}

/** Copies `count` elements out of (possibly unaligned) `bytes` into a fresh typed array. */
export function typedArrayFromBytes(dtype: HostDType, bytes: Uint8Array, count: number): HostData {
  const copy = new Uint8Array(count * ITEM_SIZE[dtype]);
  copy.set(bytes.subarray(0, copy.length));
  return typedArrayOver(dtype, copy.buffer, count);
}

/** A view of a typed array's bytes (no copy). */
export function bytesOf(data: HostData): Uint8Array {
  assertLittleEndianHost();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function assertLittleEndianHost(): void {
  // Typed arrays use the host byte order and every format read here is little-endian.
  if (os.endianness() !== 'LE') {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', 'checkpoint I/O needs a little-endian host', { data: { endianness: os.endianness() } });
  }
}
